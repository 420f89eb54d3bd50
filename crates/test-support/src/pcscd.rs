//! Reserved for a smart-card harness: pcscd with a virtual reader (vpcd) and a card emulator for
//! card + PIN enrollment and login (not built yet).

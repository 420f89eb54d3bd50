//! Reserved for a browser harness: headless Chromium driven over the DevTools protocol for the
//! admin console and browser logins (not built yet).

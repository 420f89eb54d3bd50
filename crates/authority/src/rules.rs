//! The registry's and the revocation's rules as pure functions over facts the store gathers
//! inside its transaction: a backend holds SQL and locking only, and every backend applies the
//! same rules.

use inkan_store::{
    Admission, CertificateStatus, DeviceRecord, DeviceStatus, Enrolled, ProductStatus,
    RegisterOutcome, RegistrationFacts,
};

/// Whether `device` may register, given what its transaction knows: the product exists and is
/// active; a key registered before is the same device again (idempotent retry) unless it
/// belongs to another product, another PSK registration id, or a disabled device; a PSK
/// registration id belongs to one key; and the product's cap holds.
pub fn admit_device(device: &DeviceRecord, facts: &RegistrationFacts) -> Admission {
    use RegisterOutcome as Out;
    let Some(product) = &facts.product else {
        return Admission::Answer(Out::UnknownProduct);
    };
    if product.status != ProductStatus::Active {
        return Admission::Answer(Out::ProductDisabled);
    }
    if let Some(found) = &facts.same_key {
        return Admission::Answer(if found.product_id != device.product_id {
            Out::KeyInUse
        } else if found.status != DeviceStatus::Active {
            Out::DeviceDisabled
        } else if device.registration_id.is_some()
            && found.registration_id != device.registration_id
        {
            Out::KeyInUse
        } else {
            Out::Existing(found.clone())
        });
    }
    if facts.registration_id_taken {
        return Admission::Answer(Out::RegistrationIdInUse);
    }
    match product.max_devices {
        Some(max) if facts.device_count >= max => Admission::Answer(Out::CapReached(max)),
        _ => Admission::Admit,
    }
}

/// Which certificates enrolled with a revoked one a cascading revocation takes with it: those
/// still valid (a revoked one keeps its own time and reason).
pub fn cascade_to(_parent: &str, enrolled: &[Enrolled]) -> Vec<String> {
    enrolled
        .iter()
        .filter(|e| e.status == CertificateStatus::Valid)
        .map(|e| e.serial.clone())
        .collect()
}

#[cfg(test)]
mod tests;

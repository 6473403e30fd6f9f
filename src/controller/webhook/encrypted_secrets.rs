//! `/validate/encryptedsecrets`: refuses an `EncryptedSecret` bound to another namespace/name,
//! when this controller holds a key that opens it.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};

use crate::controller::materialize::sops_file_of;
use crate::crd::EncryptedSecret;
use crate::keys::Keyring;
use crate::seal::{self, SealError};

/// Decides one `EncryptedSecret` admission request.
///
/// On CREATE and UPDATE, the data key is unwrapped with `keyring` and the object opened for its
/// real namespace and name ([`seal::open`] checks the binding before any value is decrypted).
/// Denied: a binding that does not match, disagrees with `spec.scope`, or was edited. Allowed:
/// everything else, including a file no key in `keyring` opens and any other defect (the
/// controller reports those in the object's status). Nothing decrypted is kept or reported.
pub fn validate_encrypted_secret(
    req: &AdmissionRequest<EncryptedSecret>,
    keyring: &Keyring,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(req);
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let Some(object) = req.object.as_ref() else {
        return response.deny("the admission request carries no EncryptedSecret object");
    };
    // On CREATE the object may omit its namespace: the request names where it will live.
    let namespace = req.namespace.clone().or_else(|| object.metadata.namespace.clone());
    let name = object.metadata.name.clone().unwrap_or_else(|| req.name.clone());
    let Some(namespace) = namespace else {
        return response;
    };
    let mut placed = object.clone();
    placed.metadata.namespace = Some(namespace.clone());
    placed.metadata.name = Some(name.clone());
    let Ok(file) = sops_file_of(&placed) else {
        return response;
    };
    let Ok((key, _)) = keyring.unwrap_data_key(&file.metadata) else {
        return response;
    };
    match seal::open(&file, &key, &namespace, &name) {
        Err(e @ (SealError::Binding(_) | SealError::BindingDecrypt { .. })) => {
            response.deny(format!("sealgate: {e}"))
        }
        // Opened values are dropped (and wiped) here; other defects are the controller's to report.
        Ok(_) | Err(_) => response,
    }
}

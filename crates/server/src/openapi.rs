//! `/v1/openapi.json`: the OpenAPI 3.1 description of the `/v1` API, generated from the
//! handlers' annotations.

use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use inkan_authority::Authority;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "inkan authority",
        description = "Device identity: products, devices, revocation. Every /v1 error, including unknown paths (404), wrong methods (405) and oversized bodies (413), is RFC 9457 application/problem+json. List sizes (`limit`) are 1 to 1000. `GET /v1/devices` pages by cursor: while an answer has `next`, pass it unchanged as `after` for the following page. EST (RFC 7030) lives under /.well-known/est, OCSP at /ocsp, CRLs at /crl."
    ),
    paths(
        crate::api::revoke,
        crate::api::revocations,
        crate::api::revocation_stream,
        crate::registry_api::create_product,
        crate::registry_api::list_products,
        crate::registry_api::show_product,
        crate::registry_api::enable_psk,
        crate::registry_api::register_device,
        crate::registry_api::list_devices,
        crate::registry_api::show_device,
        crate::registry_api::disable_device,
        crate::registry_api::enable_device,
        crate::tpm_api::activate,
        crate::tpm_api::enroll,
        crate::tpm_api::attestation,
        crate::tee_api::create_profile,
        crate::tee_api::list_profiles,
        crate::tee_api::rotate_profile,
        crate::tee_api::revoke_profile,
        crate::tee_api::create_model,
        crate::tee_api::register_device,
        crate::tee_api::tam,
        crate::tee_api::enroll,
        crate::eat_api::verify,
        crate::link_api::create_account,
        crate::link_api::get_account,
        crate::link_api::start_link,
        crate::link_api::preview_link,
        crate::link_api::link_device,
        crate::link_api::unlink_device,
        crate::link_api::delegate,
        crate::link_api::end_delegation,
        crate::link_api::login_key,
        crate::link_api::request_login,
        crate::link_api::login_status,
        crate::link_api::carried_approval,
        crate::link_api::list_approvals,
        crate::link_api::approve,
    ),
    components(schemas(
        crate::problem::ProblemDetails,
        crate::api::RevokeBody,
        crate::registry_api::NewProductBody,
        crate::registry_api::RegisterBody,
        crate::tpm_api::ActivationBody,
        crate::tpm_api::EnrollmentBody,
        crate::tee_api::NewTaProfileBody,
        crate::tee_api::RotateBody,
        crate::tee_api::NewModelBody,
        crate::tee_api::NewTeeDeviceBody,
        crate::tee_api::TamMessage,
        crate::tee_api::TeeEnrollmentBody,
        crate::eat_api::VerifyBody,
        crate::link_api::NewAccountBody,
        crate::link_api::NewLinkBody,
        crate::link_api::LinkTokenBody,
        crate::link_api::LinkDeviceBody,
        crate::link_api::LoginBody,
        crate::link_api::PollBody,
        crate::link_api::CarriedApprovalBody,
        crate::link_api::DelegationBody,
        crate::link_api::ApprovalBody
    )),
    modifiers(&SecuritySchemes, &ProblemTypes)
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

/// Lists the problem types of the error table in the API's description.
struct ProblemTypes;

impl Modify for ProblemTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut text = openapi.info.description.take().unwrap_or_default();
        text.push_str("\n\nProblem types (`type`):\n");
        for (kind, meaning) in crate::error_table::PROBLEM_TYPES {
            text.push_str(&format!("\n- `{kind}` — {meaning}"));
        }
        openapi.info.description = Some(text);
    }
}

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some(
                    "A certificate issued by this authority, as TLS client certificate".into(),
                ),
                extensions: None,
                deprecated: None,
            },
        );
        components.add_security_scheme(
            "admin_cert",
            SecurityScheme::MutualTls {
                description: Some(
                    "A certificate of the admin profile (`inkan admin cert create`), as TLS client certificate".into(),
                ),
                extensions: None,
                deprecated: None,
            },
        );
        components.add_security_scheme(
            "product_cert",
            SecurityScheme::MutualTls {
                description: Some("The product's ProductCert as TLS client certificate".into()),
                extensions: None,
                deprecated: None,
            },
        );
        components.add_security_scheme(
            "psk",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "InkanPSK product=\"…\", registration=\"…\", ts=\"…\", nonce=\"…\", sig=\"…\" — sig = base64 HMAC-SHA256(device key, \"inkan-psk-v1\\nMETHOD\\nPATH\\nproduct\\nregistration\\nts\\nnonce\\nhex(SHA-256(body))\"), device key = HMAC-SHA256(group key, registration id)",
                ),
            )),
        );
    }
}

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new().route(
        "/v1/openapi.json",
        get(|| async { Json(ApiDoc::openapi()) }),
    )
}

//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa).

use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{alerts, dead_letters, events, response, timeline, trail, users};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Every route checks the token the same way: document 401 (no or unknown token) and 403 (role too
        // low) once here rather than on each handler.
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                for (code, what) in [
                    ("401", "Missing or unknown bearer token"),
                    ("403", "The token's role may not use this route"),
                ] {
                    op.responses
                        .responses
                        .entry(code.into())
                        .or_insert_with(|| RefOr::T(error(what)));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "custos API", description = "Alerts, events, timelines and exports for security analysts and auditors. Every request is recorded in api_audit."),
    paths(
        alerts::list, alerts::get_one, alerts::set_status, events::list, timeline::timeline, users::stats, dead_letters::list,
        response::lock, response::unlock, response::list, response::reset_breaker, trail::list, document
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")), security(("bearer" = [])))]
pub async fn document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

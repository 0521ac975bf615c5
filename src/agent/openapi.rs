//! `/openapi.json`, generated from the handlers' `#[utoipa::path]` attributes and the request,
//! error and health types ([`ApiDoc`]). The report and node-facts schemas ([`ReportDoc`],
//! [`NodeDoc`]) describe their top-level fields (the verdict list comes from
//! [`Verdict::ALL`]) and leave nested objects open; a test keeps them in step with what
//! [`Report`](crate::report::Report) serializes.

use super::error::{Code, ErrorBody};
use super::health::{self, Health, Ready};
use super::params::ProbeBody;
use super::routes;
use crate::classify::Verdict;
use crate::service::RuntimeState;
use std::borrow::Cow;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, PartialSchema, ToSchema};

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pullcheck agent",
        description = "Can this node pull image X — and if not, why, as whom, and what fixes it. \
            Served on loopback without authentication (reach it with kubectl port-forward); the \
            optional network listener requires `Authorization: Bearer` with a token the cluster \
            accepts (TokenReview) for a user allowed by SubjectAccessReview. Errors are JSON \
            with a stable `code`."
    ),
    paths(
        routes::probe_get,
        routes::probe_post,
        routes::node,
        routes::monitor,
        health::healthz,
        health::readyz,
        health::openapi_json
    ),
    components(schemas(ReportDoc, NodeDoc, ErrorBody, Code, ProbeBody, Health, Ready, RuntimeState,
        crate::monitor::status::MonitorStatus, crate::monitor::status::TargetStatus,
        crate::monitor::status::FailingStatus, crate::monitor::status::FailingKind,
        crate::monitor::status::WatchListStatus,
        crate::monitor::pods::WatchStatus)),
    tags(
        (name = "probe", description = "Pull checks"),
        (name = "node", description = "What this node pulls with"),
        (name = "health", description = "Liveness, readiness, this document")
    )
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn json() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_string())
}

fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn array(description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(object("item"))
        .description(Some(description))
}

/// The report schema (`kind: PullReport`), as `pullcheck probe -o json` writes it.
pub struct ReportDoc;

/// Top-level report fields: (name, required, schema).
fn report_fields() -> Vec<(&'static str, bool, RefOr<Schema>)> {
    let verdicts: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
    let verdict = string("Stable verdict name").enum_values(Some(verdicts.clone()));
    vec![
        ("apiVersion", true, string("Schema version").into()),
        ("kind", true, string("PullReport").into()),
        ("image", true, string("The reference as given").into()),
        (
            "normalized",
            false,
            string("The normalised reference").into(),
        ),
        ("verdict", true, verdict.into()),
        ("reason", true, string("Why, in one line").into()),
        ("remediation", true, string("What fixes it").into()),
        (
            "exitCode",
            true,
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("The CLI exit code for this verdict"))
                .into(),
        ),
        ("identity", false, object("Who the verdict is for").into()),
        ("nodePlatform", true, object("The node's platform").into()),
        (
            "platforms",
            true,
            array("Platforms the image offers (distinct, at most 64)").into(),
        ),
        (
            "platformsOmitted",
            false,
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Distinct platforms offered past those listed"))
                .into(),
        ),
        (
            "selectedPlatform",
            false,
            object("The platform that would be pulled").into(),
        ),
        ("digest", false, string("Manifest digest").into()),
        ("mediaType", false, string("Manifest media type").into()),
        (
            "rateLimit",
            false,
            object("Latest rate-limit figures").into(),
        ),
        (
            "layers",
            false,
            object("The blob path of the selected manifest: layers (count), compressedBytes, storageHosts the blobs came from after redirects, checked, cached, unchecked, clockSkew").into(),
        ),
        (
            "imageStore",
            false,
            object("The runtime's image store: present (the image is already on the node), imageId, filesystem (free space), notes").into(),
        ),
        (
            "warnings",
            true,
            ArrayBuilder::new()
                .items(string("warning"))
                .description(Some("Warnings that do not fail the pull"))
                .into(),
        ),
        (
            "endpoints",
            true,
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::Object,
                    Type::Null,
                ]))
                .description(Some("The registry configuration applied"))
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
                .into(),
        ),
        (
            "manifestOrigin",
            false,
            string("Where the judged manifest came from: registry (a GET now), remembered, state_dir, runtime (the node holds the digest the HEAD named)").into(),
        ),
        (
            "registryCost",
            true,
            object("Manifest requests this probe sent: manifestGets (Docker Hub: pulls), manifestHeads (free), getsAvoided").into(),
        ),
        (
            "runtimeKind",
            false,
            object("Whose pull path the prediction follows: kind (containerd or crio) and source (flag, runtime, socket, default)").into(),
        ),
        (
            "runtimeVersion",
            false,
            object("The containerd version whose rules the prediction follows (name, version, major, minor, source: runtime, flag or default; note)").into(),
        ),
        (
            "credentials",
            true,
            array("Candidate credentials in kubelet order").into(),
        ),
        (
            "anonymousHint",
            false,
            object("What anonymous would get").into(),
        ),
        (
            "identitySources",
            true,
            object("Where the credentials came from").into(),
        ),
        (
            "attempts",
            true,
            array("Every credential × host tried").into(),
        ),
        (
            "evidence",
            true,
            array("The exchanges behind the verdict").into(),
        ),
        (
            "runtime",
            false,
            object("The runtime's own pull (runtimePull=true)").into(),
        ),
        (
            "durationMs",
            true,
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .description(Some("Wall time, milliseconds"))
                .into(),
        ),
    ]
}

impl PartialSchema for ReportDoc {
    fn schema() -> RefOr<Schema> {
        let mut o = object("The answer to \"can this node pull X\" (kind PullReport)");
        for (name, required, schema) in report_fields() {
            o = o.property(name, schema);
            if required {
                o = o.required(name);
            }
        }
        o.into()
    }
}

impl ToSchema for ReportDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PullReport")
    }
}

/// The `/v1/node` schema (`kind: NodeFacts` plus the agent's view).
pub struct NodeDoc;

impl PartialSchema for NodeDoc {
    fn schema() -> RefOr<Schema> {
        object("Node facts (as `pullcheck node -o json`) and the agent's view")
            .property("apiVersion", string("Schema version"))
            .property("kind", string("NodeFacts"))
            .property("platform", object("The platform this node pulls for"))
            .property("runtime", object("The container runtime"))
            .property(
                "registry",
                object("The registry configuration containerd applies"),
            )
            .property("registryError", string("Why it could not be read"))
            .property(
                "crioRegistries",
                object("On a CRI-O node: registries.conf files read, each [[registry]] (prefix, location, mirrors, insecure, blocked, where defined), unqualified-search-registries, notes"),
            )
            .property("crioRegistriesError", string("Why CRI-O's registries.conf could not be read"))
            .property("crioPolicy", string("On a CRI-O node: the signature policy in force (policy.json requirements by scope)"))
            .property("identities", array("Identities available to pull as"))
            .property("exitCode", ObjectBuilder::new().schema_type(Type::Integer))
            .property("rateLimits", array("Last rate-limit figures per registry"))
            .property(
                "budgets",
                array("Per-registry budgets of manifest GETs and what is left"),
            )
            .property(
                "registryCost",
                object("The state directory (dir, entries, bytes, limitBytes, hits, dropped, writeError), stateDirError, and spent: per registry host, the manifestGets, manifestHeads and getsAvoided of the agent's own probes"),
            )
            .property(
                "agent",
                object("Probes in flight, the limit, answers cached"),
            )
            .required("kind")
            .required("platform")
            .required("runtime")
            .required("identities")
            .required("rateLimits")
            .required("budgets")
            .required("agent")
            .into()
    }
}

impl ToSchema for NodeDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NodeFacts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::report::Report;

    #[test]
    fn document_lists_every_endpoint() {
        let doc: serde_json::Value = serde_json::from_str(&json()).unwrap();
        for p in [
            "/v1/probe",
            "/v1/node",
            "/healthz",
            "/readyz",
            "/openapi.json",
        ] {
            assert!(doc["paths"][p].is_object(), "{p}");
        }
        assert!(doc["paths"]["/v1/probe"]["post"]["requestBody"].is_object());
        let params = doc["paths"]["/v1/probe"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["image", "pod", "secret", "platform", "runtimePull", "fresh"]
        );
        let verdicts = &doc["components"]["schemas"]["PullReport"]["properties"]["verdict"]["enum"];
        assert_eq!(verdicts.as_array().unwrap().len(), Verdict::ALL.len());
        assert_eq!(
            doc["components"]["schemas"]["ProbeBody"]["additionalProperties"],
            false
        );
    }

    #[test]
    fn report_schema_names_every_serialized_field() {
        let known: Vec<&str> = report_fields().iter().map(|(n, _, _)| *n).collect();
        let r = Report::invalid_reference("X", "bad", Platform::host());
        let v = serde_json::to_value(&r).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(
                known.contains(&key.as_str()),
                "{key} missing from ReportDoc"
            );
        }
        for (name, required, _) in report_fields() {
            if required {
                assert!(
                    v.get(name).is_some(),
                    "{name} is required but not always written"
                );
            }
        }
    }
}

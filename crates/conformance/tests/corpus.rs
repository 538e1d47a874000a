//! The fixture corpus (`tests/fixtures/<api>.json`): every case gets its expected verdict from the
//! JSON Schemas, and the serde types of `streamspec-types` agree with the schemas on every case.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use streamspec_conformance::{Api, Catalog, Schema};
use streamspec_types::{aioz, emulator, storm};

#[derive(Debug, Deserialize)]
struct Case {
    /// `schema:Name`, `request:operation` or `response:operation:status`.
    target: String,
    name: String,
    /// The payload (`null` is a payload too); unused for a `file` case.
    #[serde(default)]
    payload: Value,
    /// A payload kept as a file, relative to the fixture: for text that is not JSON.
    file: Option<String>,
    valid: bool,
    /// For an invalid case: the pointer a violation must report.
    pointer: Option<String>,
    #[serde(default)]
    parse_error: bool,
}

fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn cases(api: Api) -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures_dir().join(format!("{api}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn schema(api: Api, target: &str) -> &'static Schema {
    let catalog = Catalog::get();
    let parts: Vec<&str> = target.split(':').collect();
    match parts.as_slice() {
        ["schema", name] => catalog.schema(api, name),
        ["request", operation] => catalog.operation(api, operation).and_then(|o| o.request()),
        ["response", operation, status] => {
            catalog.operation(api, operation).and_then(|o| o.response(status.parse().unwrap()))
        }
        _ => None,
    }
    .unwrap_or_else(|| panic!("{api}: no schema for target {target}"))
}

#[test]
fn every_case_gets_its_verdict() {
    let mut failures = Vec::new();
    for api in Api::ALL {
        for case in cases(api) {
            let label = format!("{api} {} ({})", case.target, case.name);
            if let Some(file) = &case.file {
                let text = std::fs::read_to_string(fixtures_dir().join(file)).unwrap();
                let parsed = serde_json::from_str::<Value>(&text);
                assert_eq!(parsed.is_err(), case.parse_error, "{label}");
                continue;
            }
            let payload = &case.payload;
            let verdict = schema(api, &case.target).validate(payload);
            match (case.valid, verdict) {
                (true, Ok(())) => {}
                (true, Err(violations)) => {
                    failures.push(format!("{label} should be valid: {violations:?}"))
                }
                (false, Ok(())) => failures.push(format!("{label} should be invalid")),
                (false, Err(violations)) => {
                    let expected = case.pointer.as_deref().unwrap();
                    if !violations.iter().any(|v| v.pointer == expected) {
                        failures
                            .push(format!("{label}: no violation at `{expected}`: {violations:?}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_operation_has_valid_and_invalid_cases() {
    for api in Api::ALL {
        let cases = cases(api);
        for operation in Catalog::get().operations(api) {
            let id = operation.id();
            let mine: Vec<&Case> = cases
                .iter()
                .filter(|c| {
                    c.target.split(':').nth(1) == Some(id) && !c.target.starts_with("schema")
                })
                .collect();
            assert!(mine.iter().any(|c| c.valid), "{api} {id}: no valid case");
            assert!(mine.iter().any(|c| !c.valid), "{api} {id}: no invalid case");
        }
    }
}

#[test]
fn every_component_has_a_valid_and_several_invalid_cases() {
    for api in Api::ALL {
        let mut counts: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for case in cases(api).iter().filter(|case| case.file.is_none()) {
            let count = counts.entry(schema(api, &case.target).name().to_owned()).or_default();
            if case.valid { count.0 += 1 } else { count.1 += 1 }
        }
        for schema in Catalog::get().schemas(api).filter(|schema| !schema.name().contains('.')) {
            let (valid, invalid) = counts.get(schema.name()).copied().unwrap_or_default();
            assert!(
                valid >= 1 && invalid >= 2,
                "{api}::{}: {valid} valid, {invalid} invalid",
                schema.name()
            );
        }
    }
}

/// Whether the serde type generated for a schema accepts `payload`; `None` for variants and types the
/// table does not list.
fn serde_accepts(api: Api, name: &str, payload: &Value) -> Option<bool> {
    macro_rules! types {
        ($module:ident: $($ty:ident),* $(,)?) => {
            match name {
                $(stringify!($ty) => Some(serde_json::from_value::<$module::$ty>(payload.clone()).is_ok()),)*
                _ => None,
            }
        };
    }
    if matches!(name, "Secret" | "AccessToken") {
        return Some(serde_json::from_value::<streamspec_types::Secret>(payload.clone()).is_ok());
    }
    match api {
        Api::Aioz => {
            types!(aioz: LiveStreamKey, LiveStreamType, ReportedLiveStreamType, LiveStreamKeyTypeFilter, LiveStreamKeySortBy, SortOrder, CreateLiveStreamKeyRequest, UpdateLiveStreamKeyRequest, LiveStreamKeyResponse, LiveStreamKeyList, LiveStreamKeyListResponse, DeleteLiveStreamKeyResponse, ErrorResponse, StreamingStatus, ReportedStreamingStatus, QualityResolution, QualityType, QualityContainerType, LiveStreamMediaSortBy, StreamingAssets, Streaming, Media, MediaMetadata, MediaQuality, MediaAssets, StreamingResponse, StreamingList, StreamingListResponse, VideoConfig, AudioConfig, StreamingQuality, CreateStreamingRequest, UpdateStreamingRequest, ListLiveStreamMediaRequest, MessageResponse, Multicast, MulticastResponse, UpsertMulticastRequest, StreamingStatistic, StreamingStatisticResponse)
        }
        Api::Storm => {
            types!(storm: ErrorResponse, Meta, MessageResponse, LoginRequest, LoginResponse, LoginData, Username, TokenType, ApplicationName, ApplicationType, ReportedApplicationType, ApplicationTypeName, ApplicationInfo, Application, ReportedAuthType, LockedBy, ReportedStreamType, PullProtocol, SourceUrl, CreateApplicationRequest, ApplicationResponse, AuthType, RequestUrl, FilePath, AuthUser, AuthUserCredentials, AuthUserToken, IngestSettingsAttributes, UpdateIngestSettingsRequest, BooleanSetting, AuthTypeSetting, StringSetting, AuthUsersSetting, AuthUserSummary, AuthUserKind, IngestSettings, IngestSettingsSection, IngestSettingsResponse, ApplicationSettings, ApplicationSettingsResponse, StreamKey, StreamSource, CredentialsSource, TokenSource, SecretSource, NoAuthSource, StreamType, CreateStreamRequest, StreamSourceSummary, StreamAuthType, Stream, StreamResponse)
        }
        Api::Emulator => {
            types!(emulator: ErrorResponse, ApplicationName, PublishRequest, PublisherCredentials, NoCredentials, UsernamePassword, TokenCredentials, StreamSecretCredentials, PublishDecision, PublishAllowed, PublishDenied, DenyReason)
        }
    }
}

/// Where a generated type is knowingly looser than its schema, and why.
const KNOWN_LOOSER: &[(&str, &str)] = &[
    // The cross-field rules are `x-validation-only`: no Rust type can say "required when".
    ("authorization enabled without authType", "x-validation-only rule"),
    ("request without requestURL", "x-validation-only rule"),
    ("file without fileURL", "x-validation-only rule"),
    ("local without authUsers", "x-validation-only rule"),
    // typify does not turn `minimum` into a check: an `int64` with `minimum: 0` is an `i64`, a
    // `number` an `f64`. The validator enforces the bound; the type does not.
    ("negative execution time", "typify does not enforce `minimum`"),
    ("a negative total", "typify does not enforce `minimum`"),
    // Nor `minItems`: `authUsers` is a `Vec`, which may be empty.
    ("local with no users", "typify does not enforce `minItems`"),
    ("IngestSettingsAttributes: authorization on without a type", "x-validation-only rule"),
    ("LoginData: remainingTime negative", "typify does not enforce `minimum`"),
    ("AuthUserToken: negative expire", "typify does not enforce `minimum`"),
    ("offset -1, which both vendor suites expect refused", "typify does not enforce `minimum`"),
    // Nor `uniqueItems`: the destinations are a `Vec`; the emulator's decoding is the schema's.
    ("the same URL twice", "typify does not enforce `uniqueItems`"),
    // An IP address is an `x-validation-only` rule too: the type is a `String`, parsed by the emulator.
    ("a client address that is not an IP address", "x-validation-only rule"),
    ("a pull stream without its url", "x-validation-only rule"),
    ("dash in an MPEG-TS container", "x-validation-only rule"),
];

#[test]
fn the_serde_types_accept_exactly_what_the_schemas_accept() {
    let mut checked = 0;
    for api in Api::ALL {
        for case in cases(api) {
            if case.file.is_some() {
                continue;
            }
            let payload = &case.payload;
            let schema = schema(api, &case.target);
            let Some(serde_ok) = serde_accepts(api, schema.name(), payload) else { continue };
            checked += 1;
            let schema_ok = schema.is_valid(payload);
            if serde_ok != schema_ok {
                let known = KNOWN_LOOSER.iter().any(|(name, _)| *name == case.name);
                assert!(
                    known && serde_ok && !schema_ok,
                    "{api} {} ({}): serde {} it, the schema {} it",
                    case.target,
                    case.name,
                    if serde_ok { "accepts" } else { "rejects" },
                    if schema_ok { "accepts" } else { "rejects" },
                );
            }
        }
    }
    assert!(checked > 150, "only {checked} cases were cross-checked");
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn schemars_agrees_with_the_generated_schemas_on_required_fields() {
    let bundles: Vec<(Api, Value)> = Api::ALL
        .into_iter()
        .map(|api| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{api}.json"));
            (api, serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        })
        .collect();
    macro_rules! agree {
        ($api:expr, $module:ident: $($ty:ident),* $(,)?) => {$(
            let bundle = &bundles.iter().find(|(api, _)| *api == $api).unwrap().1;
            let ours = required(&bundle["$defs"][stringify!($ty)]);
            let theirs = required(schemars::schema_for!($module::$ty).as_value());
            assert_eq!(ours, theirs, "{}::{}", $api, stringify!($ty));
        )*};
    }
    agree!(Api::Aioz, aioz: LiveStreamKey, LiveStreamKeyList, LiveStreamKeyResponse, LiveStreamKeyListResponse,
        DeleteLiveStreamKeyResponse, ErrorResponse, CreateLiveStreamKeyRequest, UpdateLiveStreamKeyRequest);
    agree!(Api::Storm, storm: LoginRequest, LoginData, LoginResponse, Meta, MessageResponse, Application,
        IngestSettings, IngestSettingsAttributes, AuthUserCredentials, AuthUserToken, AuthUserSummary,
        CreateStreamRequest, Stream, StreamResponse, ErrorResponse, CredentialsSource, ApplicationInfo);
    // Not `BooleanSetting`: its `value` is required and nullable, an `Option` in Rust, which schemars
    // counts as not required.
    agree!(Api::Emulator, emulator: PublishRequest, UsernamePassword, TokenCredentials, PublishAllowed,
        PublishDenied, ErrorResponse);
}

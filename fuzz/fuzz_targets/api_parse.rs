//! skiffd's request parsing (`skiffd_api`): the version prefix, every
//! endpoint group's parse from a request line to a typed action, the
//! `filters` and timestamp forms, and the JSON bodies of container create,
//! exec create / start and auth. Whatever the request, parsing answers an
//! action or an error a client can act on: a 4xx (or 501 for what is not
//! implemented), never a panic and never another 5xx.
#![no_main]

use arbitrary::Arbitrary;
use http::Method;
use libfuzzer_sys::fuzz_target;
use skiff_engine::containers::exec::{ExecOptions, ExecStartOptions};
use skiffd_api::call::Call;
use skiffd_api::error::ApiError;
use skiffd_api::query::{Filters, Query, percent_decode};
use skiffd_api::{body, containers, distribution, events, exec, images, system, version};

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    group: Group,
    path: String,
    query: String,
    body: Body,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Group {
    Containers,
    Images,
    Exec,
    System,
    Events,
    Distribution,
    /// The path as given, prefix and all.
    Raw,
}

#[derive(Debug, Arbitrary)]
enum Body {
    Create(Vec<u8>),
    ExecCreate(Vec<u8>),
    ExecStart(Vec<u8>),
    Filters(String),
    Timestamp(String, i64),
}

fn check(r: Result<impl std::fmt::Debug, ApiError>) {
    if let Err(e) = r {
        assert!(
            e.status.is_client_error() || e.status == http::StatusCode::NOT_IMPLEMENTED,
            "{} for a client's request: {}",
            e.status,
            e.message
        );
        assert!(!e.message.is_empty(), "an error without a message");
    }
}

fuzz_target!(|input: Input| {
    let method = match input.method % 6 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::DELETE,
        3 => Method::HEAD,
        4 => Method::PUT,
        _ => Method::PATCH,
    };
    let prefix = match input.group {
        Group::Containers => "/v1.45/containers/",
        Group::Images => "/images/",
        Group::Exec => "/v1.24/exec/",
        Group::System => "/",
        Group::Events => "/events",
        Group::Distribution => "/distribution/",
        Group::Raw => "",
    };
    let full = format!("{prefix}{}", input.path);
    let _ = percent_decode(&full);
    let (v, path) = match version::split(&full) {
        Ok(split) => split,
        Err(e) => return check(Err::<(), _>(e)),
    };
    let call = Call {
        method: method.clone(),
        path: path.to_owned(),
        query: Query::parse(Some(&input.query)),
        headers: http::HeaderMap::new(),
        version: v.map(str::to_owned),
    };
    let now = 1_700_000_000_000_000_000;
    match path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
    {
        "containers" => check(containers::parse(&call)),
        "images" => check(images::parse(&call)),
        "exec" => check(exec::parse(&call)),
        "events" => check(events::parse(&call, now).map(|_| ())),
        "distribution" => check(distribution::parse(&method, path)),
        _ => check(system::parse(&method, path)),
    }
    match input.body {
        Body::Create(bytes) => check(containers::create_request(None, &bytes).map(|_| ())),
        Body::ExecCreate(bytes) => check(body::json_or_default::<ExecOptions>(&bytes).map(|_| ())),
        Body::ExecStart(bytes) => {
            check(body::json_or_default::<ExecStartOptions>(&bytes).map(|_| ()))
        }
        Body::Filters(raw) => {
            if let Ok(f) = Filters::parse(&raw) {
                check(f.only(&["label", "name"]));
            }
        }
        Body::Timestamp(raw, now) => check(events::parse_timestamp(&raw, now)),
    }
});

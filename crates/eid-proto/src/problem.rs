//! RFC 7807 "Problem Details for HTTP APIs", served as `application/problem+json`.

use serde::{Deserialize, Serialize};

/// Base of the `type` URIs: `urn:eid:problem:<slug>`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:eid:problem:";

/// An RFC 7807 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// RFC 7807 §3.1 `type`: a URI naming the kind of problem.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A machine-readable refinement of `type` (an extension member), e.g. `face_mismatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds after which a retry may succeed (an extension member; also `Retry-After`).
    #[serde(
        default,
        rename = "retry-after",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<u64>,
    /// The fields of the request that were invalid, and why (an extension member).
    #[serde(
        default,
        rename = "invalid-params",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub invalid_params: Vec<InvalidParam>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidParam {
    /// The field's name as it appears in the request body.
    pub name: String,
    /// Why it was refused.
    pub reason: String,
}

impl Problem {
    /// A problem with `type` `urn:eid:problem:<slug>`.
    pub fn new(status: u16, slug: &str, title: &str) -> Self {
        Self {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status,
            detail: None,
            reason: None,
            retry_after: None,
            invalid_params: Vec::new(),
        }
    }

    /// Adds the occurrence-specific explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds the machine-readable reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Says when to retry.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Names an invalid field.
    pub fn with_invalid_param(mut self, name: &str, reason: impl Into<String>) -> Self {
        self.invalid_params.push(InvalidParam {
            name: name.to_owned(),
            reason: reason.into(),
        });
        self
    }

    /// The slug after [`PROBLEM_TYPE_PREFIX`], if the type is one of eid's.
    pub fn slug(&self) -> Option<&str> {
        self.type_uri.strip_prefix(PROBLEM_TYPE_PREFIX)
    }
}

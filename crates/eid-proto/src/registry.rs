//! The population registry interface: how eid asks the keeper of residents' records (the
//! Immigration Department's, or the sandbox `population-registry`) whether an applicant is who
//! they say they are.
//!
//! One exchange, both messages compact JWS signed with ES256 (RFC 7515, RFC 7518 §3.4), sent as
//! `application/jwt`:
//!
//! ```text
//! POST {registry}/v1/verifications      body: a RegistryQuery JWS, typ "eid-registry-query+jwt"
//! 200                                   body: a RegistryVerdict JWS, typ "eid-registry-verdict+jwt"
//! GET  {registry}/jwks                  the registry's public keys (RFC 7517)
//! GET  {eid}/connectors/jwks            eid's public keys for these queries
//! ```
//!
//! The registry verifies the query with eid's connector keys, checks `aud` (itself), the
//! lifetime and that `jti` was not seen before; it answers with a verdict whose
//! `in_response_to` is the query's `jti`. eid verifies the verdict with the registry's keys,
//! checks `iss`, `aud`, `in_response_to` and freshness. Neither side stores the face template.
//!
//! What the verdict reveals is graded, so that a query without the right face learns nothing
//! about the person's particulars: `found`; when found, `face_similarity`; and only when that is
//! at least the query's `min_face_similarity`, the particulars' comparisons and the record.

use serde::{Deserialize, Serialize};

/// `typ` of a query's JWS header.
pub const QUERY_TYPE: &str = "eid-registry-query+jwt";
/// `typ` of a verdict's JWS header.
pub const VERDICT_TYPE: &str = "eid-registry-verdict+jwt";
/// Path of the verification endpoint, under the registry's base URL.
pub const VERIFICATIONS_PATH: &str = "/v1/verifications";
/// Media type of both messages (RFC 7519 §10.3.1).
pub const MEDIA_TYPE: &str = "application/jwt";

/// The claims of a query, signed by eid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryQuery {
    /// eid's issuer URL.
    pub iss: String,
    /// The registry's identifier.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per query; the verdict answers it.
    pub jti: String,
    /// Canonical HKID number (`A1234563`).
    pub hkid: String,
    pub english_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// The applicant's face template, to compare with the record's (cosine similarity).
    pub face_template: Vec<f32>,
    /// The similarity from which eid accepts a face as matching; below it, the registry
    /// reveals nothing more than `found` and the similarity.
    pub min_face_similarity: f64,
}

/// The claims of a verdict, signed by the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryVerdict {
    /// The registry's identifier.
    pub iss: String,
    /// eid's issuer URL.
    pub aud: String,
    pub iat: i64,
    /// The query's `jti`.
    pub in_response_to: String,
    /// Whether a resident with this HKID number exists.
    pub found: bool,
    /// Cosine similarity of the templates, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_similarity: Option<f64>,
    /// When the face matched: whether the English name agrees (case, spacing and commas aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub english_name_matches: Option<bool>,
    /// When the face matched: whether the date of birth agrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth_matches: Option<bool>,
    /// When the face and the particulars matched: the record, which becomes the account's
    /// proven particulars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RegistryRecord>,
}

/// A resident's particulars as the registry holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    pub hkid: String,
    pub english_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chinese_name: Option<String>,
    pub date_of_birth: String,
    /// `M`, `F` or `X`.
    pub gender: String,
}

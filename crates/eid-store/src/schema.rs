//! diesel table definitions, shared by the SQLite and PostgreSQL migrations (which differ only
//! in the binary type's name).

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Binary,
        redirect_uris -> Text,
        id_token_alg -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    citizens (citizen_id) {
        citizen_id -> Text,
        hkid_index -> Binary,
        profile -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    devices (device_id) {
        device_id -> Text,
        citizen_id -> Text,
        credential_id -> Text,
        name -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    ceremonies (ceremony_id) {
        ceremony_id -> Text,
        purpose -> Text,
        citizen_id -> Nullable<Text>,
        state -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    auth_requests (request_id) {
        request_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Text,
        browser_hash -> Binary,
        csrf_token -> Text,
        approval_state -> Nullable<Binary>,
        status -> Text,
        citizen_id -> Nullable<Text>,
        device_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        code_hash -> Nullable<Binary>,
        code_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Binary,
        request_id -> Text,
        client_id -> Text,
        citizen_id -> Text,
        scope -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    consents (citizen_id, client_id) {
        citizen_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    wallet_sessions (token_hash) {
        token_hash -> Binary,
        citizen_id -> Text,
        device_id -> Text,
        expires_at -> BigInt,
    }
}

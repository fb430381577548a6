//! diesel table definitions, shared by the SQLite and PostgreSQL migrations (which differ only
//! in the binary type's name and the audit sequence's type).

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        purpose -> Text,
        private_key -> Binary,
        created_at -> BigInt,
        custody -> Text,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        kind -> Text,
        kid -> Text,
        citizen_id -> Nullable<Text>,
        der -> Binary,
        not_before -> BigInt,
        not_after -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_requests (request_id) {
        request_id -> Text,
        client_id -> Text,
        citizen_id -> Text,
        document -> Binary,
        verification_code -> Text,
        status -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        decided_at -> Nullable<BigInt>,
        device_id -> Nullable<Text>,
        certificate_serial -> Nullable<Text>,
        result -> Nullable<Binary>,
    }
}

diesel::table! {
    browser_sessions (session_id) {
        session_id -> Text,
        token_hash -> Binary,
        citizen_id -> Text,
        device_id -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        context -> Nullable<Binary>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    session_logins (request_id) {
        request_id -> Text,
        session_id -> Text,
        client_id -> Text,
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
        metadata -> Text,
        secret_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    logout_deliveries (delivery_id) {
        delivery_id -> Text,
        client_id -> Text,
        uri -> Text,
        logout_token -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    seen_jtis (scope, jti) {
        scope -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    citizens (citizen_id) {
        citizen_id -> Text,
        reference -> Text,
        hkid_index -> Binary,
        level -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    citizen_profiles (citizen_id) {
        citizen_id -> Text,
        profile -> Binary,
    }
}

diesel::table! {
    devices (device_id) {
        device_id -> Text,
        citizen_id -> Text,
        credential_id -> Text,
        user_handle -> Text,
        name -> Text,
        passkey -> Text,
        joined_by -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        suspended_at -> Nullable<BigInt>,
        attestation -> Nullable<Text>,
    }
}

diesel::table! {
    ceremonies (ceremony_id) {
        ceremony_id -> Text,
        purpose -> Text,
        subject_id -> Nullable<Text>,
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
        context -> Nullable<Binary>,
        required_level -> Nullable<Text>,
        status -> Text,
        citizen_id -> Nullable<Text>,
        device_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        acr -> Nullable<Text>,
        amr -> Nullable<Text>,
        error_code -> Nullable<Text>,
        code_hash -> Nullable<Binary>,
        code_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
        prompt -> Nullable<Text>,
        granted -> Nullable<Text>,
        response_mode -> Nullable<Text>,
        claims_request -> Nullable<Text>,
        expected_sub -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
        par_id -> Nullable<Text>,
        response_type -> Nullable<Text>,
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
        claims -> Text,
        jkt -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        family_id -> Text,
        client_id -> Text,
        citizen_id -> Text,
        device_id -> Text,
        scope -> Text,
        claims -> Text,
        acr -> Text,
        amr -> Text,
        auth_time -> BigInt,
        issued_at -> BigInt,
        expires_at -> BigInt,
        family_expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    consents (citizen_id, client_id) {
        citizen_id -> Text,
        client_id -> Text,
        claims -> Text,
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

diesel::table! {
    applications (application_id) {
        application_id -> Text,
        reference -> Text,
        kind -> Text,
        status -> Text,
        token_hash -> Binary,
        citizen_id -> Nullable<Text>,
        particulars -> Nullable<Binary>,
        credential_id -> Nullable<Text>,
        passkey -> Nullable<Text>,
        user_handle -> Nullable<Text>,
        outcome -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        present_at -> Nullable<BigInt>,
        present_officer_id -> Nullable<Text>,
        present_device_id -> Nullable<Text>,
        held_until -> Nullable<BigInt>,
        held_proof -> Nullable<Binary>,
    }
}

diesel::table! {
    officers (officer_id) {
        officer_id -> Text,
        name -> Text,
        active -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    officer_credentials (credential_id) {
        credential_id -> Text,
        officer_id -> Text,
        user_handle -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        attestation -> Nullable<Text>,
        confirmed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    officer_sessions (token_hash) {
        token_hash -> Binary,
        officer_id -> Text,
        csrf_token -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        event_id -> Text,
        at -> BigInt,
        action -> Text,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        citizen_id -> Nullable<Text>,
        application_id -> Nullable<Text>,
        device_id -> Nullable<Text>,
        detail -> Nullable<Binary>,
    }
}

diesel::table! {
    rate_limits (bucket) {
        bucket -> Text,
        window_start -> BigInt,
        window_secs -> BigInt,
        hits -> BigInt,
    }
}

diesel::joinable!(devices -> citizens (citizen_id));
diesel::joinable!(citizen_profiles -> citizens (citizen_id));
diesel::joinable!(auth_requests -> citizens (citizen_id));
diesel::joinable!(session_logins -> browser_sessions (session_id));
diesel::joinable!(refresh_tokens -> citizens (citizen_id));
diesel::joinable!(certificates -> signing_keys (kid));
diesel::allow_tables_to_appear_in_same_query!(
    signing_keys,
    certificates,
    signing_requests,
    browser_sessions,
    session_logins,
    clients,
    citizens,
    citizen_profiles,
    devices,
    ceremonies,
    auth_requests,
    access_tokens,
    refresh_tokens,
    consents,
    wallet_sessions,
    applications,
    officers,
    officer_credentials,
    officer_sessions,
    audit_events,
    rate_limits,
    seen_jtis,
    logout_deliveries,
);

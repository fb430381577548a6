use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::ids::{CitizenId, ClientId, DeviceId};
use eid_core::pki::CertKind;
use eid_core::store::{
    AuditRecord, CertificateRecord, PkiStore, RevocationReason, SigningKeyRecord, SigningOutcome,
    SigningRequestRecord, SigningStatus, SigningStore, StoreError,
};
use eid_core::time::UnixTime;

use crate::repo::audit::insert_events;
use crate::repo::keys::SigningKeyRow;
use crate::schema::{certificates, signing_keys, signing_requests};
use crate::{backend, corrupt, Database, TxError};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = certificates)]
pub(crate) struct CertificateRow {
    pub serial: String,
    pub kind: String,
    pub kid: String,
    pub citizen_id: Option<String>,
    pub der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<i64>,
}

impl From<&CertificateRecord> for CertificateRow {
    fn from(r: &CertificateRecord) -> Self {
        Self {
            serial: r.serial.clone(),
            kind: r.kind.as_str().to_owned(),
            kid: r.kid.clone(),
            citizen_id: r.citizen_id.clone().map(CitizenId::into_string),
            der: r.der.clone(),
            not_before: r.not_before.secs(),
            not_after: r.not_after.secs(),
            revoked_at: r.revoked_at.map(UnixTime::secs),
            revocation_reason: r.revocation_reason.map(|r| i64::from(r.code())),
        }
    }
}

impl TryFrom<CertificateRow> for CertificateRecord {
    type Error = StoreError;
    fn try_from(r: CertificateRow) -> Result<Self, StoreError> {
        let revocation_reason = r
            .revocation_reason
            .map(|code| {
                RevocationReason::from_code(code)
                    .ok_or_else(|| corrupt("revocation reason", &code.to_string()))
            })
            .transpose()?;
        Ok(Self {
            kind: CertKind::parse(&r.kind).ok_or_else(|| corrupt("certificate kind", &r.kind))?,
            serial: r.serial,
            kid: r.kid,
            citizen_id: r.citizen_id.map(CitizenId::from),
            der: r.der,
            not_before: UnixTime::from_secs(r.not_before),
            not_after: UnixTime::from_secs(r.not_after),
            revoked_at: r.revoked_at.map(UnixTime::from_secs),
            revocation_reason,
        })
    }
}

fn records(rows: Vec<CertificateRow>) -> Result<Vec<CertificateRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

impl PkiStore for Database {
    fn insert_hierarchy(
        &self,
        keys: &[SigningKeyRecord],
        certs: &[CertificateRecord],
        events: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        struct Existing;
        let mut conn = self.writer()?;
        let result = conn.transaction::<bool, TxError<Existing>, _>(|c| {
            let roots: i64 = certificates::table
                .filter(certificates::kind.eq(CertKind::Root.as_str()))
                .count()
                .get_result(c)?;
            if roots > 0 {
                return Err(TxError::Abort(Existing));
            }
            for key in keys {
                diesel::insert_into(signing_keys::table)
                    .values(SigningKeyRow::from(key))
                    .execute(c)?;
            }
            for cert in certs {
                diesel::insert_into(certificates::table)
                    .values(CertificateRow::from(cert))
                    .execute(c)?;
            }
            insert_events(c, events)?;
            Ok(true)
        });
        match result {
            Ok(done) => Ok(done),
            Err(TxError::Abort(Existing)) => Ok(false),
            Err(TxError::Db(e)) => Err(backend(e)),
        }
    }

    fn insert_certificate(
        &self,
        key: &SigningKeyRecord,
        cert: &CertificateRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), DieselError, _>(|c| {
            diesel::insert_into(signing_keys::table)
                .values(SigningKeyRow::from(key))
                .execute(c)?;
            diesel::insert_into(certificates::table)
                .values(CertificateRow::from(cert))
                .execute(c)?;
            Ok(())
        })
        .map_err(backend)
    }

    fn certificates(&self, kind: CertKind) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows: Vec<CertificateRow> = certificates::table
            .filter(certificates::kind.eq(kind.as_str()))
            .order((certificates::not_before.asc(), certificates::serial.asc()))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        records(rows)
    }

    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let row: Option<CertificateRow> = certificates::table
            .find(serial)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn signer_certificates(
        &self,
        citizen: &CitizenId,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows: Vec<CertificateRow> = certificates::table
            .filter(certificates::citizen_id.eq(&**citizen))
            .filter(certificates::kind.eq(CertKind::Signer.as_str()))
            .order((certificates::not_before.asc(), certificates::serial.asc()))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        records(rows)
    }

    fn signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>, StoreError> {
        let row: Option<SigningKeyRow> = signing_keys::table
            .find(kid)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn revoked_signer_keys(
        &self,
        citizen: Option<&CitizenId>,
        limit: usize,
    ) -> Result<Vec<(CertificateRecord, SigningKeyRecord)>, StoreError> {
        let mut query = certificates::table
            .inner_join(signing_keys::table)
            .filter(certificates::kind.eq(CertKind::Signer.as_str()))
            .filter(certificates::revoked_at.is_not_null())
            .into_boxed();
        if let Some(citizen) = citizen {
            query = query.filter(certificates::citizen_id.eq(citizen.as_str()));
        }
        let rows: Vec<(CertificateRow, SigningKeyRow)> = query
            .order(certificates::revoked_at.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter()
            .map(|(cert, key)| Ok((cert.try_into()?, key.try_into()?)))
            .collect()
    }

    fn delete_signing_key(&self, kid: &str, events: &[AuditRecord]) -> Result<bool, StoreError> {
        self.writer()?
            .transaction::<bool, DieselError, _>(|c| {
                let deleted = diesel::delete(signing_keys::table.find(kid)).execute(c)? == 1;
                if deleted {
                    insert_events(c, events)?;
                }
                Ok(deleted)
            })
            .map_err(backend)
    }

    fn revoke_signer_certificates(
        &self,
        citizen: &CitizenId,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<Vec<String>, DieselError, _>(|c| {
            let serials: Vec<String> = certificates::table
                .filter(certificates::citizen_id.eq(&**citizen))
                .filter(certificates::revoked_at.is_null())
                .select(certificates::serial)
                .load(c)?;
            diesel::update(
                certificates::table
                    .filter(certificates::serial.eq_any(&serials))
                    .filter(certificates::revoked_at.is_null()),
            )
            .set((
                certificates::revoked_at.eq(now.secs()),
                certificates::revocation_reason.eq(i64::from(reason.code())),
            ))
            .execute(c)?;
            Ok(serials)
        })
        .map_err(backend)
    }

    fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let changed = diesel::update(
            certificates::table
                .filter(certificates::serial.eq(serial))
                .filter(certificates::revoked_at.is_null()),
        )
        .set((
            certificates::revoked_at.eq(now.secs()),
            certificates::revocation_reason.eq(i64::from(reason.code())),
        ))
        .execute(&mut *self.writer()?)
        .map_err(backend)?;
        Ok(changed == 1)
    }

    fn revoked_certificates(&self, now: UnixTime) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows: Vec<CertificateRow> = certificates::table
            .filter(certificates::revoked_at.is_not_null())
            .filter(certificates::not_after.gt(now.secs()))
            .order(certificates::revoked_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        records(rows)
    }
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = signing_requests)]
pub(crate) struct SigningRequestRow {
    pub request_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub document: Vec<u8>,
    pub verification_code: String,
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub device_id: Option<String>,
    pub certificate_serial: Option<String>,
    pub result: Option<Vec<u8>>,
}

impl From<&SigningRequestRecord> for SigningRequestRow {
    fn from(r: &SigningRequestRecord) -> Self {
        Self {
            request_id: r.request_id.clone(),
            client_id: r.client_id.clone().into_string(),
            citizen_id: r.citizen_id.clone().into_string(),
            document: r.document.clone(),
            verification_code: r.verification_code.clone(),
            status: r.status.as_str().to_owned(),
            created_at: r.created_at.secs(),
            expires_at: r.expires_at.secs(),
            decided_at: r.decided_at.map(UnixTime::secs),
            device_id: r.device_id.clone().map(DeviceId::into_string),
            certificate_serial: r.certificate_serial.clone(),
            result: r.result.clone(),
        }
    }
}

impl TryFrom<SigningRequestRow> for SigningRequestRecord {
    type Error = StoreError;
    fn try_from(r: SigningRequestRow) -> Result<Self, StoreError> {
        Ok(Self {
            status: SigningStatus::parse(&r.status)
                .ok_or_else(|| corrupt("signing request status", &r.status))?,
            request_id: r.request_id,
            client_id: ClientId::from(r.client_id),
            citizen_id: CitizenId::from(r.citizen_id),
            document: r.document,
            verification_code: r.verification_code,
            created_at: UnixTime::from_secs(r.created_at),
            expires_at: UnixTime::from_secs(r.expires_at),
            decided_at: r.decided_at.map(UnixTime::from_secs),
            device_id: r.device_id.map(DeviceId::from),
            certificate_serial: r.certificate_serial,
            result: r.result,
        })
    }
}

impl SigningStore for Database {
    fn insert_signing_request(&self, request: &SigningRequestRecord) -> Result<(), StoreError> {
        diesel::insert_into(signing_requests::table)
            .values(SigningRequestRow::from(request))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn signing_request(
        &self,
        request_id: &str,
    ) -> Result<Option<SigningRequestRecord>, StoreError> {
        let row: Option<SigningRequestRow> = signing_requests::table
            .find(request_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn pending_signing_requests(
        &self,
        citizen: &CitizenId,
        now: UnixTime,
    ) -> Result<Vec<SigningRequestRecord>, StoreError> {
        let rows: Vec<SigningRequestRow> = signing_requests::table
            .filter(signing_requests::citizen_id.eq(&**citizen))
            .filter(signing_requests::status.eq(SigningStatus::Pending.as_str()))
            .filter(signing_requests::expires_at.gt(now.secs()))
            .order((
                signing_requests::created_at.asc(),
                signing_requests::request_id.asc(),
            ))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    fn finish_signing_request(
        &self,
        request_id: &str,
        outcome: &SigningOutcome<'_>,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            let n = diesel::update(
                signing_requests::table
                    .filter(signing_requests::request_id.eq(request_id))
                    .filter(signing_requests::status.eq(SigningStatus::Pending.as_str()))
                    .filter(signing_requests::expires_at.gt(outcome.now.secs())),
            )
            .set((
                signing_requests::status.eq(outcome.status.as_str()),
                signing_requests::decided_at.eq(Some(outcome.now.secs())),
                signing_requests::device_id.eq(Some(&**outcome.device_id)),
                signing_requests::certificate_serial.eq(outcome.certificate_serial),
                signing_requests::result.eq(outcome.result),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            insert_events(c, events)?;
            Ok(true)
        })
        .map_err(backend)
    }
}

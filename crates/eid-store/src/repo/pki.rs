use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::ids::CitizenId;
use eid_core::pki::CertKind;
use eid_core::store::{
    CertificateRecord, PkiStore, RevocationReason, SigningKeyRecord, StoreError,
};
use eid_core::time::UnixTime;

use crate::repo::keys::SigningKeyRow;
use crate::schema::{certificates, signing_keys};
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

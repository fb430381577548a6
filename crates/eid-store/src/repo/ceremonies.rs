use diesel::prelude::*;
use eid_core::store::{CeremonyPurpose, CeremonyRecord, CeremonyStore, StoreError};
use eid_core::time::UnixTime;

use crate::schema::ceremonies;
use crate::{backend, corrupt, Database};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = ceremonies)]
pub(crate) struct CeremonyRow {
    pub ceremony_id: String,
    pub purpose: String,
    pub subject_id: Option<String>,
    pub state: Vec<u8>,
    pub expires_at: i64,
}

impl From<&CeremonyRecord> for CeremonyRow {
    fn from(r: &CeremonyRecord) -> Self {
        Self {
            ceremony_id: r.ceremony_id.clone(),
            purpose: r.purpose.as_str().to_owned(),
            subject_id: r.subject_id.clone(),
            state: r.state.clone(),
            expires_at: r.expires_at.secs(),
        }
    }
}

impl TryFrom<CeremonyRow> for CeremonyRecord {
    type Error = StoreError;
    fn try_from(r: CeremonyRow) -> Result<Self, StoreError> {
        Ok(Self {
            purpose: CeremonyPurpose::parse(&r.purpose)
                .ok_or_else(|| corrupt("ceremony purpose", &r.purpose))?,
            ceremony_id: r.ceremony_id,
            subject_id: r.subject_id,
            state: r.state,
            expires_at: UnixTime::from_secs(r.expires_at),
        })
    }
}

impl CeremonyStore for Database {
    fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError> {
        diesel::insert_into(ceremonies::table)
            .values(CeremonyRow::from(ceremony))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn take_ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        let mut conn = self.writer()?;
        let target = ceremonies::table
            .filter(ceremonies::ceremony_id.eq(ceremony_id))
            .filter(ceremonies::purpose.eq(purpose.as_str()));
        // Ceremony rows never change after insertion, so reading and then deleting needs no
        // transaction: whoever deletes the row owns the ceremony, and only one delete can.
        let row: Option<CeremonyRow> = target.first(&mut *conn).optional().map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        if diesel::delete(target)
            .execute(&mut *conn)
            .map_err(backend)?
            != 1
        {
            return Ok(None);
        }
        CeremonyRecord::try_from(row).map(Some)
    }

    fn ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        let row: Option<CeremonyRow> = ceremonies::table
            .filter(ceremonies::ceremony_id.eq(ceremony_id))
            .filter(ceremonies::purpose.eq(purpose.as_str()))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(CeremonyRecord::try_from).transpose()
    }
}

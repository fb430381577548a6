use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::store::{AuditRecord, ClientRecord, ClientStore, StoreError};
use eid_core::time::UnixTime;

use crate::repo::audit::insert_events;
use crate::schema::{access_tokens, clients, consents, refresh_tokens};
use crate::{backend, corrupt, is_unique_violation, Database};
use eid_core::ids::ClientId;

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = clients)]
pub(crate) struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    /// One URI per line: URIs cannot contain a line break.
    pub redirect_uris: String,
    pub id_token_alg: String,
    pub created_at: i64,
    /// `ClientMetadata` as JSON.
    pub metadata: String,
    pub secret_sealed: Option<Vec<u8>>,
}

impl TryFrom<&ClientRecord> for ClientRow {
    type Error = StoreError;
    fn try_from(r: &ClientRecord) -> Result<Self, StoreError> {
        Ok(Self {
            metadata: serde_json::to_string(&r.metadata)
                .map_err(|e| StoreError::Backend(format!("client metadata: {e}")))?,
            secret_sealed: r.secret_sealed.clone(),
            client_id: r.client_id.clone().into_string(),
            name: r.name.clone(),
            secret_hash: r.secret_hash.clone(),
            redirect_uris: r.redirect_uris.join("\n"),
            id_token_alg: r.id_token_alg.clone(),
            created_at: r.created_at.secs(),
        })
    }
}

impl TryFrom<ClientRow> for ClientRecord {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Self {
            metadata: serde_json::from_str(&r.metadata)
                .map_err(|_| corrupt("client metadata", &r.client_id))?,
            secret_sealed: r.secret_sealed,
            client_id: ClientId::from(r.client_id),
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris.lines().map(str::to_owned).collect(),
            id_token_alg: r.id_token_alg,
            created_at: UnixTime::from_secs(r.created_at),
        })
    }
}

impl ClientStore for Database {
    fn insert_client(
        &self,
        client: &ClientRecord,
        events: &[AuditRecord],
    ) -> Result<(), StoreError> {
        let row = ClientRow::try_from(client)?;
        self.writer()?
            .transaction::<(), DieselError, _>(|c| {
                diesel::insert_into(clients::table).values(row).execute(c)?;
                insert_events(c, events)
            })
            .map_err(|e| {
                if is_unique_violation(&e, "client_id") {
                    StoreError::Duplicate("client_id")
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row: Option<ClientRow> = clients::table
            .find(client_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(ClientRecord::try_from).transpose()
    }

    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows: Vec<ClientRow> = clients::table
            .order(clients::created_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(ClientRecord::try_from).collect()
    }

    fn delete_client(&self, client_id: &str, events: &[AuditRecord]) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            diesel::delete(access_tokens::table.filter(access_tokens::client_id.eq(client_id)))
                .execute(c)?;
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::client_id.eq(client_id)))
                .execute(c)?;
            diesel::delete(consents::table.filter(consents::client_id.eq(client_id))).execute(c)?;
            let deleted = diesel::delete(clients::table.find(client_id)).execute(c)? == 1;
            if deleted {
                insert_events(c, events)?;
            }
            Ok(deleted)
        })
        .map_err(backend)
    }

    fn update_client(
        &self,
        client: &ClientRecord,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let row = ClientRow::try_from(client)?;
        self.writer()?
            .transaction::<bool, DieselError, _>(|c| {
                let n = diesel::update(clients::table.find(client.client_id.as_str()))
                    .set((
                        clients::name.eq(&row.name),
                        clients::redirect_uris.eq(&row.redirect_uris),
                        clients::id_token_alg.eq(&row.id_token_alg),
                        clients::metadata.eq(&row.metadata),
                    ))
                    .execute(c)?;
                if n == 1 {
                    insert_events(c, events)?;
                }
                Ok(n == 1)
            })
            .map_err(backend)
    }
}

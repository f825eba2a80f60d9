//! App-wide incidents in `lw_incidents` (see `lightwidget_core::Incident`): statements in
//! `queries/<dialect>/incident*.sql`, `release_held.sql`.

use chrono::{DateTime, Utc};
use lightwidget_core::{ConnectionKind, Incident, IncidentId, IncidentKind, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::codec::{from_ms, held_by_pattern, ms};
use crate::db::Classified;
use crate::dialect::Dialect;
use crate::store::SqlStore;

/// The incident statements of one dialect.
struct Sql {
    open: &'static str,
    by_key: &'static str,
    update: &'static str,
    resolve: &'static str,
    open_list: &'static str,
    all_list: &'static str,
    release_held: &'static str,
}

macro_rules! sql {
    ($d:literal) => {
        Sql {
            open: include_str!(concat!("../queries/", $d, "/incident_open.sql")),
            by_key: include_str!(concat!("../queries/", $d, "/incident_by_key.sql")),
            update: include_str!(concat!("../queries/", $d, "/incident_update.sql")),
            resolve: include_str!(concat!("../queries/", $d, "/incident_resolve.sql")),
            open_list: include_str!(concat!("../queries/", $d, "/incidents_open.sql")),
            all_list: include_str!(concat!("../queries/", $d, "/incidents_all.sql")),
            release_held: include_str!(concat!("../queries/", $d, "/release_held.sql")),
        }
    };
}

static SQLITE: Sql = sql!("sqlite");
static POSTGRES: Sql = sql!("postgres");
static MYSQL: Sql = sql!("mysql");

fn open_key(connection: ConnectionKind, kind: IncidentKind) -> String {
    format!("{}:{}", connection.as_str(), kind.as_str())
}

impl SqlStore {
    fn incident_sql(&self) -> &'static Sql {
        match self.dialect() {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
            Dialect::Mysql => &MYSQL,
        }
    }

    fn decode_incident(&self, r: &AnyRow) -> Result<Incident, StoreError> {
        let id: String = r.try_get(0).classified(self.db())?;
        let connection: String = r.try_get(1).classified(self.db())?;
        let kind: String = r.try_get(2).classified(self.db())?;
        let bad = |what: &str| StoreError::Backend {
            message: format!("incident {id}: unreadable {what}"),
            source: None,
        };
        Ok(Incident {
            id: id.parse::<IncidentId>().map_err(|_| bad("id"))?,
            connection: connection
                .parse::<ConnectionKind>()
                .map_err(|_| bad("connection"))?,
            kind: IncidentKind::parse(&kind).ok_or_else(|| bad("kind"))?,
            opened_at: from_ms(r.try_get(3).classified(self.db())?),
            updated_at: from_ms(r.try_get(4).classified(self.db())?),
            resolved_at: r
                .try_get::<Option<i64>, _>(5)
                .classified(self.db())?
                .map(from_ms),
            accounts: u64::try_from(r.try_get::<i64, _>(6).classified(self.db())?).unwrap_or(0),
            error: r.try_get(7).classified(self.db())?,
        })
    }

    pub(crate) async fn open_incident_sql(
        &self,
        i: &Incident,
    ) -> Result<(Incident, bool), StoreError> {
        let sql = self.incident_sql();
        let key = open_key(i.connection, i.kind);
        let pool = self.pool();
        let inserted = sqlx::query(sql.open)
            .bind(i.id.to_string())
            .bind(i.connection.as_str())
            .bind(i.kind.as_str())
            .bind(key.clone())
            .bind(ms(i.opened_at))
            .bind(ms(i.updated_at))
            .bind(i64::try_from(i.accounts).unwrap_or(i64::MAX))
            .bind(i.error.clone())
            .execute(pool)
            .await
            .classified(self.db())?
            .rows_affected()
            == 1;
        if inserted {
            return Ok((i.clone(), true));
        }
        let row = sqlx::query(sql.by_key)
            .bind(key)
            .fetch_optional(pool)
            .await
            .classified(self.db())?;
        match row {
            Some(r) => Ok((self.decode_incident(&r)?, false)),
            // Resolved between the two statements: this one is new after all.
            None => Box::pin(self.open_incident_sql(i)).await,
        }
    }

    pub(crate) async fn update_incident_sql(&self, i: &Incident) -> Result<bool, StoreError> {
        let sql = self.incident_sql();
        let accounts = i64::try_from(i.accounts).unwrap_or(i64::MAX);
        let q = match i.resolved_at {
            Some(at) => sqlx::query(sql.resolve)
                .bind(accounts)
                .bind(ms(i.updated_at))
                .bind(ms(at)),
            None => sqlx::query(sql.update)
                .bind(accounts)
                .bind(ms(i.updated_at)),
        };
        let q = q.bind(i.id.to_string());
        let q = match i.resolved_at {
            Some(_) => q,
            None => q.bind(accounts),
        };
        let n = q
            .execute(self.pool())
            .await
            .classified(self.db())?
            .rows_affected();
        Ok(n == 1)
    }

    pub(crate) async fn incidents_sql(
        &self,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let sql = self.incident_sql();
        let q = if open_only {
            sqlx::query(sql.open_list)
        } else {
            sqlx::query(sql.all_list).bind(i64::try_from(limit).unwrap_or(i64::MAX))
        };
        let rows = q.fetch_all(self.pool()).await.classified(self.db())?;
        rows.iter().map(|r| self.decode_incident(r)).collect()
    }

    pub(crate) async fn release_held_sql(
        &self,
        incident: IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n = sqlx::query(self.incident_sql().release_held)
            .bind(ms(at))
            .bind(held_by_pattern(incident))
            .bind(ms(at))
            .execute(self.pool())
            .await
            .classified(self.db())?
            .rows_affected();
        Ok(n)
    }
}

//! A casbin adapter storing policies in the application's own SQL database through sqlx.

use async_trait::async_trait;
use casbin::error::AdapterError;
use casbin::{Adapter, Filter, Model};
use sqlx::{Any, AnyPool, Row, Transaction};

/// Stores casbin rules in a table of an existing sqlx pool (PostgreSQL or SQLite through
/// sqlx's `Any` driver), so policies live beside the rest of the application's data.
///
/// The table is created by the application's migrations:
///
/// ```sql
/// CREATE TABLE casbin_rules (
///     tenant_id TEXT NOT NULL,            -- the rule's domain: `*` or a tenant id
///     ptype     TEXT NOT NULL,
///     v0 TEXT NOT NULL DEFAULT '', v1 TEXT NOT NULL DEFAULT '', v2 TEXT NOT NULL DEFAULT '',
///     v3 TEXT NOT NULL DEFAULT '', v4 TEXT NOT NULL DEFAULT '', v5 TEXT NOT NULL DEFAULT '',
///     CONSTRAINT casbin_rules_key UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
/// );
/// ```
///
/// `tenant_id` repeats the rule's domain (the second field of a `p` rule, the third of a
/// `g` rule, as in [`MODEL`](super::MODEL)) so the table can carry row-level security.
/// Statements given to [`SqlxAdapter::on_begin`] run at the start of every transaction the
/// adapter opens, for instance to switch role and scope on PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlxAdapter {
    pool: AnyPool,
    table: String,
    on_begin: Vec<String>,
    filtered: bool,
}

fn adapter_error(err: sqlx::Error) -> casbin::Error {
    AdapterError(Box::new(err)).into()
}

impl SqlxAdapter {
    /// An adapter on `pool` using the table `casbin_rules`.
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            table: "casbin_rules".to_owned(),
            on_begin: Vec::new(),
            filtered: false,
        }
    }

    /// Uses another table name (trusted input: it is spliced into SQL). Default
    /// `casbin_rules`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Statements run at the start of each transaction. Default: none.
    pub fn on_begin(mut self, statements: Vec<String>) -> Self {
        self.on_begin = statements;
        self
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>, casbin::Error> {
        let mut tx = self.pool.begin().await.map_err(adapter_error)?;
        for statement in &self.on_begin {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *tx)
                .await
                .map_err(adapter_error)?;
        }
        Ok(tx)
    }

    async fn rows(&self) -> Result<Vec<Vec<String>>, casbin::Error> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT ptype, v0, v1, v2, v3, v4, v5 FROM {}", self.table);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(adapter_error)?;
        tx.commit().await.map_err(adapter_error)?;

        rows.iter()
            .map(|row| {
                (0..7)
                    .map(|i| row.try_get::<String, _>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(adapter_error)
            })
            .collect()
    }

    async fn insert(&self, ptype: &str, rules: &[Vec<String>]) -> Result<(), casbin::Error> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO {} (tenant_id, ptype, v0, v1, v2, v3, v4, v5) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            self.table
        );
        for rule in rules {
            let fields = padded(rule);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(domain_of(ptype, rule))
                .bind(ptype.to_owned());
            for field in fields {
                query = query.bind(field);
            }
            query.execute(&mut *tx).await.map_err(adapter_error)?;
        }
        tx.commit().await.map_err(adapter_error)
    }

    async fn delete(
        &self,
        ptype: &str,
        conditions: &[(usize, String)],
    ) -> Result<bool, casbin::Error> {
        let mut sql = format!("DELETE FROM {} WHERE ptype = $1", self.table);
        for (n, (field, _)) in conditions.iter().enumerate() {
            sql.push_str(&format!(" AND v{field} = ${}", n + 2));
        }
        let mut tx = self.begin().await?;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ptype.to_owned());
        for (_, value) in conditions {
            query = query.bind(value.clone());
        }
        let result = query.execute(&mut *tx).await.map_err(adapter_error)?;
        tx.commit().await.map_err(adapter_error)?;
        Ok(result.rows_affected() > 0)
    }
}

/// The rule's six fields, missing ones empty.
fn padded(rule: &[String]) -> [String; 6] {
    std::array::from_fn(|i| rule.get(i).cloned().unwrap_or_default())
}

/// The domain of a rule of [`MODEL`](super::MODEL).
fn domain_of(ptype: &str, rule: &[String]) -> String {
    let index = if ptype.starts_with('g') { 2 } else { 1 };
    rule.get(index).cloned().unwrap_or_default()
}

fn load_into(model: &mut dyn Model, row: &[String]) {
    let ptype = &row[0];
    let sec = &ptype[..1.min(ptype.len())];
    let mut rule: Vec<String> = row[1..].to_vec();
    while rule.last().is_some_and(String::is_empty) {
        rule.pop();
    }
    model.add_policy(sec, ptype, rule);
}

fn matches(filter: &[&str], rule: &[String]) -> bool {
    filter
        .iter()
        .enumerate()
        .all(|(i, wanted)| wanted.is_empty() || rule.get(i).is_some_and(|v| v == wanted))
}

#[async_trait]
impl Adapter for SqlxAdapter {
    async fn load_policy(&mut self, model: &mut dyn Model) -> casbin::Result<()> {
        for row in self.rows().await? {
            load_into(model, &row);
        }
        self.filtered = false;
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        model: &mut dyn Model,
        filter: Filter<'a>,
    ) -> casbin::Result<()> {
        for row in self.rows().await? {
            let wanted = if row[0].starts_with('g') {
                &filter.g
            } else {
                &filter.p
            };
            if matches(wanted, &row[1..]) {
                load_into(model, &row);
            } else {
                self.filtered = true;
            }
        }
        Ok(())
    }

    async fn save_policy(&mut self, model: &mut dyn Model) -> casbin::Result<()> {
        self.clear_policy().await?;
        for sec in ["p", "g"] {
            let Some(assertions) = model.get_model().get(sec) else {
                continue;
            };
            for (ptype, assertion) in assertions {
                let rules: Vec<Vec<String>> = assertion.get_policy().iter().cloned().collect();
                self.insert(ptype, &rules).await?;
            }
        }
        Ok(())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        let mut tx = self.begin().await?;
        let sql = format!("DELETE FROM {}", self.table);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(adapter_error)?;
        tx.commit().await.map_err(adapter_error)
    }

    fn is_filtered(&self) -> bool {
        self.filtered
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        self.insert(ptype, &[rule]).await?;
        Ok(true)
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        self.insert(ptype, &rules).await?;
        Ok(true)
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        let conditions: Vec<(usize, String)> = padded(&rule).into_iter().enumerate().collect();
        self.delete(ptype, &conditions).await
    }

    async fn remove_policies(
        &mut self,
        sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let mut removed = false;
        for rule in rules {
            removed |= self.remove_policy(sec, ptype, rule).await?;
        }
        Ok(removed)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        field_index: usize,
        field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        let conditions: Vec<(usize, String)> = field_values
            .into_iter()
            .enumerate()
            .filter(|(i, value)| !value.is_empty() && field_index + i < 6)
            .map(|(i, value)| (field_index + i, value))
            .collect();
        self.delete(ptype, &conditions).await
    }
}

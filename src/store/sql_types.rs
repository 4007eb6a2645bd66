//! The domain's states and ids as SQL values, for both back ends, in one place. A state of
//! `domain::status` is stored as its `as_str()` text and read back with `FromStr`, so a
//! status is never spelt by hand in Rust code that talks to a database. An id of
//! `domain::ids` is bound and read as the column it always was: `EventId` and `RunId` as
//! their text, `DeliveryId` and `DeadLetterId` as their 64-bit integer (SQLite `INTEGER`,
//! PostgreSQL `BIGINT`, and `BIGINT[]` for a list of them). The queries bind and read the
//! ids themselves (`ToSql`/`FromSql` here, for rusqlite and tokio-postgres alike), so no
//! query converts an id by hand, and a column of one kind of id cannot be read as another.
//! What is read back is taken as stored (an id is not checked again on its way out).

use std::error::Error;

use bytes::BytesMut;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use tokio_postgres::types::{self as pg, IsNull, Type};

use crate::domain::ids::{DeadLetterId, DeliveryId, EventId, RunId};
use crate::domain::status::{DeadReason, DeliveryStatus, EventStatus};

macro_rules! text_sql {
    ($($name:ty),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }

        impl pg::ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                <&str as pg::ToSql>::to_sql(&self.as_str(), ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as pg::ToSql>::accepts(ty)
            }

            pg::to_sql_checked!();
        }

        impl<'a> pg::FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                Ok(<&str as pg::FromSql>::from_sql(ty, raw)?.parse()?)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as pg::FromSql>::accepts(ty)
            }
        }
    )+};
}

text_sql!(EventStatus, DeliveryStatus, DeadReason);

/// Ids kept as text: bound as `as_str()`, read back as they are stored.
macro_rules! text_id_sql {
    ($($name:ident),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map($name::unchecked)
            }
        }

        impl pg::ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                <&str as pg::ToSql>::to_sql(&self.as_str(), ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as pg::ToSql>::accepts(ty)
            }

            pg::to_sql_checked!();
        }

        impl<'a> pg::FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                Ok($name::unchecked(<String as pg::FromSql>::from_sql(ty, raw)?))
            }

            fn accepts(ty: &Type) -> bool {
                <String as pg::FromSql>::accepts(ty)
            }
        }
    )+};
}

text_id_sql!(EventId, RunId);

/// Ids the store numbers: bound and read as the row's `i64` key.
macro_rules! numbered_id_sql {
    ($($name:ident),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.get()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name::from)
            }
        }

        impl pg::ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                <i64 as pg::ToSql>::to_sql(&self.get(), ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <i64 as pg::ToSql>::accepts(ty)
            }

            pg::to_sql_checked!();
        }

        impl<'a> pg::FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                Ok($name::from(<i64 as pg::FromSql>::from_sql(ty, raw)?))
            }

            fn accepts(ty: &Type) -> bool {
                <i64 as pg::FromSql>::accepts(ty)
            }
        }
    )+};
}

numbered_id_sql!(DeliveryId, DeadLetterId);

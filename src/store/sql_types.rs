//! The states of `domain::status` as SQL values, for both back ends, in one place: each is
//! stored as its `as_str()` text and read back with `FromStr`, so a status is never spelt
//! by hand in Rust code that talks to a database.

use std::error::Error;

use bytes::BytesMut;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use tokio_postgres::types::{self as pg, IsNull, Type};

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

//! Where an action goes (docs/providers.md), written once for the rules at run time (`api`) and
//! for `check`: the named provider if it can carry the action out; else the source's own
//! provider if it can; else the `[routing]` entry for the action's family, which must be
//! able to; else no route.

use std::collections::BTreeMap;

use crate::config::{ProviderSettings, Settings, SourceSettings};
use crate::domain::actions::{ActionFamily, ActionKind};
use crate::providers;

/// The providers and the `[routing]` table a route is chosen from.
#[derive(Debug, Clone, Copy)]
pub struct Routes<'a> {
    pub providers: &'a BTreeMap<String, ProviderSettings>,
    pub routing: &'a BTreeMap<ActionFamily, String>,
}

/// Why an action has no provider to go to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("provider \"{0}\" is not configured")]
    UnknownProvider(String),
    #[error("provider \"{provider}\" ({kind}) cannot carry out {action}")]
    Incapable {
        provider: String,
        kind: &'static str,
        action: &'static str,
    },
    #[error("[routing] {family} = \"{routed}\", but {kind} providers cannot carry out {action}")]
    RoutedIncapable {
        family: &'static str,
        routed: String,
        kind: &'static str,
        action: &'static str,
    },
    #[error("{action} goes only to a provider named with provider(name), e.g. provider(\"uchat\").request(...)")]
    NeedsProvider { action: &'static str },
    #[error("no provider can carry out {action} for source \"{source_name}\": its provider cannot, and [routing] has no `{family}` entry")]
    NoRoute {
        source_name: String,
        action: &'static str,
        family: &'static str,
    },
}

impl<'a> Routes<'a> {
    pub fn of(settings: &'a Settings) -> Routes<'a> {
        Routes {
            providers: &settings.providers,
            routing: &settings.routing,
        }
    }

    /// The provider an action of `kind` from `source` goes to, `explicit` being the one a
    /// rule named with `provider("...")`.
    ///
    /// # Errors
    /// The provider named is unknown or cannot carry the action out, or nothing can.
    pub fn route(
        &self,
        source: &SourceSettings,
        explicit: Option<&str>,
        kind: ActionKind,
    ) -> Result<String, RouteError> {
        if let Some(name) = explicit {
            return self.capable(name, kind).map(|()| name.to_string());
        }
        let Some(family) = kind.family() else {
            return Err(RouteError::NeedsProvider {
                action: kind.as_str(),
            });
        };
        if let Some(own) = self.own(source, kind) {
            return Ok(own.to_string());
        }
        self.routed(kind)?.ok_or_else(|| RouteError::NoRoute {
            source_name: source.name.clone(),
            action: kind.as_str(),
            family: family.as_str(),
        })
    }

    /// Whether the provider named can carry out `kind`.
    ///
    /// # Errors
    /// It is not configured, or its platform cannot.
    pub fn capable(&self, name: &str, kind: ActionKind) -> Result<(), RouteError> {
        let provider = self
            .providers
            .get(name)
            .ok_or_else(|| RouteError::UnknownProvider(name.to_string()))?;
        if providers::supports(provider.kind, kind) {
            Ok(())
        } else {
            Err(RouteError::Incapable {
                provider: name.to_string(),
                kind: provider.kind.as_str(),
                action: kind.as_str(),
            })
        }
    }

    /// The source's own provider, when it can carry out `kind`.
    pub fn own(&self, source: &'a SourceSettings, kind: ActionKind) -> Option<&'a str> {
        source
            .provider
            .as_deref()
            .filter(|p| self.capable(p, kind).is_ok())
    }

    /// The `[routing]` entry for the family of `kind`, if there is one.
    ///
    /// # Errors
    /// The entry names a provider that cannot carry out `kind`.
    pub fn routed(&self, kind: ActionKind) -> Result<Option<String>, RouteError> {
        let Some(family) = kind.family() else {
            return Ok(None);
        };
        let Some(routed) = self.routing.get(&family) else {
            return Ok(None);
        };
        let provider = self
            .providers
            .get(routed)
            .ok_or_else(|| RouteError::UnknownProvider(routed.clone()))?;
        if providers::supports(provider.kind, kind) {
            Ok(Some(routed.clone()))
        } else {
            Err(RouteError::RoutedIncapable {
                family: family.as_str(),
                routed: routed.clone(),
                kind: provider.kind.as_str(),
                action: kind.as_str(),
            })
        }
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;

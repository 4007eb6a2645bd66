//! The platforms: the kinds of source a webhook comes from and the kinds of provider an
//! action goes to. Config names them; decoders, providers and rules dispatch on them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Jelou,
    Uchat,
    Aelyst,
    /// WhatsApp Cloud API (Meta's Graph API), docs/providers.md
    Whatsapp,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Jelou => "jelou",
            ProviderKind::Uchat => "uchat",
            ProviderKind::Aelyst => "aelyst",
            ProviderKind::Whatsapp => "whatsapp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Jelou,
    Aelyst,
    Uchat,
    Generic,
    /// WhatsApp Cloud API (Meta) webhooks (docs/providers.md).
    Whatsapp,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Jelou => "jelou",
            SourceKind::Aelyst => "aelyst",
            SourceKind::Uchat => "uchat",
            SourceKind::Generic => "generic",
            SourceKind::Whatsapp => "whatsapp",
        }
    }

    /// The provider kind a source of this kind is native to (none for generic).
    pub fn provider_kind(self) -> Option<ProviderKind> {
        match self {
            SourceKind::Jelou => Some(ProviderKind::Jelou),
            SourceKind::Aelyst => Some(ProviderKind::Aelyst),
            SourceKind::Uchat => Some(ProviderKind::Uchat),
            SourceKind::Whatsapp => Some(ProviderKind::Whatsapp),
            SourceKind::Generic => None,
        }
    }
}

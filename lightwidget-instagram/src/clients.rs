//! The clients of both connection kinds, as the OAuth flows ([`OAuth`](crate::flow::OAuth))
//! and the keeper's provider ([`GraphProvider`](crate::GraphProvider)) hold them: either
//! may be missing (an app configured for one kind only), and a call for a missing kind
//! names it.

use std::sync::Arc;

use lightwidget_core::ConnectionKind;

use crate::{FacebookLogin, InstagramLogin};

/// The Instagram Login and Facebook Login clients, each optional.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    consumer: Option<Arc<InstagramLogin>>,
    business: Option<Arc<FacebookLogin>>,
}

impl Clients {
    pub(crate) fn new(
        consumer: Option<Arc<InstagramLogin>>,
        business: Option<Arc<FacebookLogin>>,
    ) -> Self {
        Self { consumer, business }
    }

    /// The Instagram Login client, or the kind that has none.
    pub(crate) fn consumer(&self) -> Result<&InstagramLogin, ConnectionKind> {
        self.consumer.as_deref().ok_or(ConnectionKind::Consumer)
    }

    /// The Facebook Login client, or the kind that has none.
    pub(crate) fn business(&self) -> Result<&FacebookLogin, ConnectionKind> {
        self.business.as_deref().ok_or(ConnectionKind::Business)
    }

    /// Whether `kind` has a client.
    pub(crate) fn has(&self, kind: ConnectionKind) -> bool {
        match kind {
            ConnectionKind::Consumer => self.consumer.is_some(),
            ConnectionKind::Business => self.business.is_some(),
        }
    }
}

//! Authenticators: each way a client can prove who it is, behind one trait, so that a route
//! names the methods it accepts (`auth = ["client-cert"]`, `["linked-device"]`) and new ones
//! (card + PIN) plug in beside them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::request::Parts;
use inkan_http::PeerCertificates;
use time::OffsetDateTime;

use crate::cards::CardLogins;
use crate::error::AuthRefusal;
use crate::identity::{ClientIdentity, IdentityVerifier};
use crate::{AuthMethod, RevokedSet, RouteConfig};

/// What is known of the connection a request came on.
pub(crate) struct Connection<'a> {
    /// The TLS client certificate chain (leaf first; empty without one).
    pub(crate) peer: &'a PeerCertificates,
    /// The client's address.
    pub(crate) client: SocketAddr,
}

/// What the request asks for.
pub(crate) struct Target<'a> {
    /// The request's head.
    pub(crate) request: &'a Parts,
    /// The route it matched.
    pub(crate) route: &'a RouteConfig,
}

/// What an authenticator found in a request.
#[derive(Debug)]
pub(crate) enum Credential {
    /// The request carries no credential of this method.
    Absent,
    /// A credential of this method, verified.
    Verified(Arc<ClientIdentity>),
    /// A credential of this method that is refused.
    Refused(AuthRefusal),
}

/// One authentication method.
pub(crate) trait Authenticator: Send + Sync {
    /// Looks for this method's credential in the request and verifies it at `now`.
    fn authenticate(
        &self,
        target: &Target<'_>,
        connection: &Connection<'_>,
        now: OffsetDateTime,
    ) -> Credential;
}

/// The authenticators of one configuration (rebuilt on reload, with its CAs).
pub(crate) struct Authenticators {
    client_cert: Arc<ClientCert>,
    linked_device: LinkedDevice,
    card: Card,
}

impl Authenticators {
    pub(crate) fn new(
        verifier: IdentityVerifier,
        revoked: Arc<RevokedSet>,
        cards: Option<Arc<CardLogins>>,
    ) -> Self {
        let client_cert = Arc::new(ClientCert { verifier, revoked });
        Self {
            linked_device: LinkedDevice(client_cert.clone()),
            client_cert,
            card: Card(cards),
        }
    }

    /// The authenticator of `method`.
    pub(crate) fn get(&self, method: AuthMethod) -> &dyn Authenticator {
        match method {
            AuthMethod::ClientCert => &*self.client_cert,
            AuthMethod::LinkedDevice => &self.linked_device,
            AuthMethod::Card => &self.card,
        }
    }

    /// The first credential the route's methods find, in their order.
    pub(crate) fn authenticate(
        &self,
        target: &Target<'_>,
        connection: &Connection<'_>,
        now: OffsetDateTime,
    ) -> Credential {
        target
            .route
            .auth
            .iter()
            .map(|m| self.get(*m).authenticate(target, connection, now))
            .find(|c| !matches!(c, Credential::Absent))
            .unwrap_or(Credential::Absent)
    }
}

/// `client-cert`: the TLS client certificate chains to the configured CAs and is not revoked
/// (checked on every request, against the live revocation set).
struct ClientCert {
    verifier: IdentityVerifier,
    revoked: Arc<RevokedSet>,
}

impl Authenticator for ClientCert {
    fn authenticate(
        &self,
        _target: &Target<'_>,
        connection: &Connection<'_>,
        now: OffsetDateTime,
    ) -> Credential {
        if connection.peer.0.is_empty() {
            return Credential::Absent;
        }
        let identity = match self.verifier.verify(&connection.peer.0, now) {
            Ok(identity) => identity,
            Err(why) => return Credential::Refused(AuthRefusal::Untrusted(why)),
        };
        if self.revoked.is_stale() {
            return Credential::Refused(AuthRefusal::RevocationUnknown);
        }
        if self.revoked.is_revoked(&identity.serial) {
            return Credential::Refused(AuthRefusal::Revoked);
        }
        Credential::Verified(identity)
    }
}

/// `linked-device`: a client certificate (checked as `client-cert` does) that names a linked
/// device (`urn:inkan:linked:`): issued on its anchor's approval, and revoked when the device is
/// unlinked. Any other certificate is not this credential.
struct LinkedDevice(Arc<ClientCert>);

impl Authenticator for LinkedDevice {
    fn authenticate(
        &self,
        target: &Target<'_>,
        connection: &Connection<'_>,
        now: OffsetDateTime,
    ) -> Credential {
        match self.0.authenticate(target, connection, now) {
            Credential::Verified(identity) if identity.linked.is_none() => Credential::Absent,
            other => other,
        }
    }
}

/// `card`: a live card session of the route's segment (its cookie), opened on the gateway's
/// login page. A session of another segment is not this route's credential.
struct Card(Option<Arc<CardLogins>>);

impl Authenticator for Card {
    fn authenticate(
        &self,
        target: &Target<'_>,
        _connection: &Connection<'_>,
        _now: OffsetDateTime,
    ) -> Credential {
        match self
            .0
            .as_ref()
            .and_then(|cards| cards.session(&target.request.headers, target.route))
        {
            Some(identity) => Credential::Verified(identity),
            None => Credential::Absent,
        }
    }
}

//! The challenge round of one probe, as containerd answers a 401: the scheme the registry asks
//! for (basic, or bearer through the token service, cached per host × repository ×
//! credential), then the request again with the credential.

use super::run::Run;
use super::*;

impl Run<'_> {
    /// Answers a 401 challenge; `false` when there is nothing (more) to try. A failed token
    /// fetch marks its last exchange terminal.
    pub(super) async fn authenticate(
        &mut self,
        client: &reqwest::Client,
        challenge: Option<&challenge::Challenge>,
    ) -> bool {
        if !matches!(self.auth, Auth::None) {
            return false; // credentials or a token were already sent and refused
        }
        match challenge {
            Some(ch) if ch.is_bearer() => {
                let Some(realm) = ch.realm.clone() else {
                    return false;
                };
                let mut scopes = vec![format!("repository:{}:pull", self.repo())];
                if let Some(s) = &ch.scope {
                    if !scopes.contains(s) && s.starts_with("repository:") {
                        scopes.push(s.clone());
                    }
                }
                let request = token::TokenRequest {
                    host: &self.host.url,
                    repo: self.repo(),
                    realm: &realm,
                    service: ch.service.as_deref(),
                    scopes,
                    cred: self.cred,
                    proxy: self.proxy_for(&realm),
                    limit: self.limit(),
                    policy: self.prober.policy.as_deref(),
                };
                let mut out = Vec::new();
                let token = self.prober.tokens.fetch(client, request, &mut out).await;
                for ex in out {
                    self.push(ex);
                }
                match token {
                    Some(t) => {
                        self.secrets.add(&t);
                        self.auth = Auth::Bearer(t);
                        true
                    }
                    None => {
                        self.ev.terminal = Some(self.ev.exchanges.len() - 1);
                        false
                    }
                }
            }
            Some(ch) if ch.scheme == "basic" && !self.cred.is_anonymous() => {
                self.auth = Auth::Basic(self.cred.clone());
                true
            }
            _ => false,
        }
    }
}

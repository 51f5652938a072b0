//! `login`: credentials checked against the registry before they are written down.

use super::client::Client;
use super::error::PullError;
use super::options::PullOptions;
use crate::auth::Credentials;
use crate::reference::Reference;

/// Asks `registry` for `/v2/` with `creds` (answering its Basic or Bearer challenge): Ok when
/// the registry accepts them.
pub fn check_login(
    registry: &str,
    creds: Credentials,
    opts: &PullOptions,
) -> Result<(), PullError> {
    let r = Reference::parse(&format!("{registry}/berth-login"))?;
    let mut client = Client::new(&r, opts)?;
    client.set_credentials(creds);
    let url = format!("{}/v2/", client.base());
    client.authorized(&format!("GET {url}"), |auth| {
        let mut req = client.agent().get(&url);
        if let Some(h) = auth {
            req = req.header("Authorization", h);
        }
        req.call()
    })?;
    Ok(())
}

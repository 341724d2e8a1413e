//! The admin side of SCRAM credentials (KIP-554): describe them, and set or
//! remove them with the salt and salted password computed here, as Kafka's
//! `ConfigCommand` does, so the password never travels.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};

use super::admin::{str_bytes, Admin};
use super::error::{check_items, Error, Result};
use crate::security::scram::{random_bytes, ScramMechanism};

/// One user's credentials: mechanism and iterations.
pub type UserCredentials = (String, Vec<(ScramMechanism, i32)>);

/// A credential to set: the password is salted here.
pub struct ScramUpsert {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub iterations: u32,
    pub password: String,
}

impl Admin {
    /// Every user's credentials, or the named users'.
    pub async fn describe_user_scram_credentials(
        &self,
        users: Option<&[String]>,
    ) -> Result<Vec<UserCredentials>> {
        let req = DescribeUserScramCredentialsRequest::default().with_users(
            users.map(|u| u.iter().map(|n| UserName::default().with_name(str_bytes(n))).collect()),
        );
        let resp = self.cluster().any_broker().send(&req).await?;
        if let Some(e) = Error::from_code(resp.error_code, resp.error_message.as_deref()) {
            return Err(e);
        }
        let mut out = Vec::new();
        for r in resp.results {
            // A named user without credentials is left out, as Kafka's
            // `DescribeUserScramCredentialsResult.users` does: the user may
            // have quotas only.
            if r.error_code == crate::protocol::ErrorCode::ResourceNotFound.code() {
                continue;
            }
            if let Some(e) = Error::from_code(r.error_code, r.error_message.as_deref()) {
                return Err(e);
            }
            let infos = r
                .credential_infos
                .iter()
                .filter_map(|i| Some((ScramMechanism::from_code(i.mechanism)?, i.iterations)))
                .collect();
            out.push((r.user.to_string(), infos));
        }
        Ok(out)
    }

    pub async fn alter_user_scram_credentials(
        &self,
        upserts: &[ScramUpsert],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<()> {
        let upsertions = upserts
            .iter()
            .map(|u| {
                let salt = random_bytes(32);
                let salted =
                    u.mechanism.salted_password(u.password.as_bytes(), &salt, u.iterations);
                ScramCredentialUpsertion::default()
                    .with_name(str_bytes(&u.user))
                    .with_mechanism(u.mechanism.code())
                    .with_iterations(u.iterations as i32)
                    .with_salt(salt.into())
                    .with_salted_password(salted.into())
            })
            .collect();
        let deletions = deletions
            .iter()
            .map(|(user, m)| {
                ScramCredentialDeletion::default()
                    .with_name(str_bytes(user))
                    .with_mechanism(m.code())
            })
            .collect();
        let req = AlterUserScramCredentialsRequest::default()
            .with_upsertions(upsertions)
            .with_deletions(deletions);
        let resp = self.cluster().any_broker().send(&req).await?;
        check_items(&resp.results)
    }
}

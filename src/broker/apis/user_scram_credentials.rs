//! DescribeUserScramCredentials (50) and AlterUserScramCredentials (51),
//! KIP-554: SCRAM credentials kept where Kafka keeps them in ZooKeeper
//! mode, one `/config/users/<name>` znode per user with a
//! `SCRAM-SHA-256` / `SCRAM-SHA-512` entry each. The client sends the salt
//! and the salted password, never the password; the broker derives the
//! stored and server keys.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::security::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

const USERS: &str = "users";

pub async fn describe(
    ctx: &BrokerContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let mut resp = DescribeUserScramCredentialsResponse::default();
    let (names, explicit) = match req.users {
        Some(users) if !users.is_empty() => {
            (users.into_iter().map(|u| u.name.to_string()).collect::<Vec<_>>(), true)
        }
        _ => match ctx.store.entity_names(USERS).await {
            Ok(names) => (names, false),
            Err(e) => {
                resp.error_code = ErrorCode::UnknownServerError.code();
                resp.error_message = Some(str_bytes(e.to_string()));
                return resp;
            }
        },
    };
    let mut seen = BTreeSet::new();
    for name in names {
        let mut r = DescribeUserScramCredentialsResult::default();
        r.user = str_bytes(name.clone());
        if !seen.insert(name.clone()) {
            r.error_code = ErrorCode::DuplicateResource.code();
            r.error_message = Some(str_bytes(format!("Cannot describe SCRAM credentials for the same user twice in a single request: {name}")));
            resp.results.push(r);
            continue;
        }
        let configs = match ctx.store.entity_config(USERS, &name).await {
            Ok(c) => c,
            Err(e) => {
                r.error_code = ErrorCode::UnknownServerError.code();
                r.error_message = Some(str_bytes(e.to_string()));
                resp.results.push(r);
                continue;
            }
        };
        r.credential_infos = ScramMechanism::ALL
            .into_iter()
            .filter_map(|m| {
                let c = ScramCredential::from_config_value(configs.get(m.name())?)?;
                let mut info = CredentialInfo::default();
                info.mechanism = m.code();
                info.iterations = c.iterations as i32;
                Some(info)
            })
            .collect();
        if r.credential_infos.is_empty() {
            // Users named in the request must exist; a listing skips
            // users that only have other configs (quotas).
            if !explicit {
                continue;
            }
            r.error_code = ErrorCode::ResourceNotFound.code();
            r.error_message = Some(str_bytes(format!(
                "Attempt to describe a user credential that does not exist: {name}"
            )));
        }
        resp.results.push(r);
    }
    resp
}

/// A change to one user's credentials, checked before anything is written.
enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

pub async fn alter(
    ctx: &BrokerContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut resp = AlterUserScramCredentialsResponse::default();
    // Kafka checks every user's changes first; one user's bad change
    // fails that user only.
    let mut per_user: BTreeMap<String, Result<Vec<Change>, (ErrorCode, String)>> = BTreeMap::new();
    let mut add = |user: String, change: Result<Change, (ErrorCode, String)>| {
        let entry = per_user.entry(user).or_insert_with(|| Ok(Vec::new()));
        match (entry.as_mut(), change) {
            (Ok(list), Ok(c)) => list.push(c),
            (Ok(_), Err(e)) => *entry = Err(e),
            (Err(_), _) => {}
        }
    };
    let mut seen = BTreeSet::new();
    let mut duplicate = BTreeSet::new();
    for d in &req.deletions {
        if !seen.insert((d.name.to_string(), d.mechanism)) {
            duplicate.insert(d.name.to_string());
        }
        add(d.name.to_string(), mechanism(&d.name, d.mechanism).map(Change::Delete));
    }
    for u in &req.upsertions {
        if !seen.insert((u.name.to_string(), u.mechanism)) {
            duplicate.insert(u.name.to_string());
        }
        let change = mechanism(&u.name, u.mechanism).and_then(|m| {
            let iterations = u32::try_from(u.iterations).unwrap_or(0);
            if iterations < MIN_ITERATIONS {
                return Err((ErrorCode::UnacceptableCredential, "Too few iterations".into()));
            }
            if iterations > MAX_ITERATIONS {
                return Err((ErrorCode::UnacceptableCredential, "Too many iterations".into()));
            }
            if u.salt.is_empty() || u.salted_password.is_empty() {
                return Err((
                    ErrorCode::UnacceptableCredential,
                    "Salt and salted password must not be empty".into(),
                ));
            }
            Ok(Change::Upsert(m, m.credential(&u.salted_password, &u.salt, iterations)))
        });
        add(u.name.to_string(), change);
    }
    for (user, changes) in per_user {
        let mut r = AlterUserScramCredentialsResult::default();
        r.user = str_bytes(user.clone());
        let outcome = if user.is_empty() {
            Err((ErrorCode::UnacceptableCredential, "Username must not be empty".to_string()))
        } else if duplicate.contains(&user) {
            Err((
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            ))
        } else {
            match changes {
                Ok(changes) => apply(ctx, &user, changes).await,
                Err(e) => Err(e),
            }
        };
        if let Err((code, message)) = outcome {
            r.error_code = code.code();
            r.error_message = Some(str_bytes(message));
        }
        resp.results.push(r);
    }
    resp
}

fn mechanism(user: &str, code: i8) -> Result<ScramMechanism, (ErrorCode, String)> {
    ScramMechanism::from_code(code).ok_or_else(|| {
        (
            ErrorCode::UnsupportedSaslMechanism,
            format!("Unknown SCRAM mechanism {code} for user {user}"),
        )
    })
}

async fn apply(
    ctx: &BrokerContext,
    user: &str,
    changes: Vec<Change>,
) -> Result<(), (ErrorCode, String)> {
    let unavailable = |e: crate::cluster::Error| (ErrorCode::UnknownServerError, e.to_string());
    let mut configs = ctx.store.entity_config(USERS, user).await.map_err(unavailable)?;
    for change in changes {
        match change {
            Change::Delete(m) => {
                if configs.remove(m.name()).is_none() {
                    return Err((
                        ErrorCode::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist".into(),
                    ));
                }
            }
            Change::Upsert(m, c) => {
                configs.insert(m.name().to_string(), c.to_config_value());
            }
        }
    }
    ctx.store.set_entity_config(USERS, user, configs).await.map_err(unavailable)?;
    tracing::info!(user, "SCRAM credentials altered");
    Ok(())
}

//! Sample data for `portcullis demo`: a small, realistic console so a
//! newcomer sees a living product. Everything goes through the services,
//! so the audit log it produces is real and its chain verifies.

use crate::actor::{Actor, RequestMeta};
use crate::error::{Error, Result};
use crate::Services;
use portcullis_types::Role;

/// What the demo created; the password is printed once by the CLI.
#[derive(Debug)]
pub struct DemoSummary {
    pub owner_email: String,
    pub owner_password: String,
    pub admins: usize,
    pub directory_users: usize,
    pub directory_groups: usize,
}

const FIRST: &[&str] = &[
    "Aisha", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Nikhil", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Adeyemi",
    "Becker",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "O'Brien",
    "Patel",
];
const GROUPS: &[(&str, usize)] = &[
    ("Engineering", 3),
    ("Platform", 7),
    ("Security", 11),
    ("Data Science", 5),
    ("Sales", 4),
    ("Support", 6),
    ("Finance", 13),
    ("Legal", 17),
    ("Design", 9),
    ("Marketing", 8),
    ("SRE on-call", 12),
    ("AI Pilot", 10),
    ("Contractors", 19),
    ("People Ops", 15),
    ("Executives", 23),
    ("EMEA", 2),
    ("AMER", 2),
    ("APAC", 5),
    ("MCP: GitHub writers", 14),
    ("MCP: Jira", 6),
    ("MCP: Snowflake readers", 9),
    ("Interns 2026", 21),
    ("Incident Commanders", 16),
    ("Release Managers", 18),
];

/// A directory "Okta" with a few hundred people and tens of groups, pushed
/// through the SCIM service as Okta would.
async fn load_directory(services: &Services) -> Result<(usize, usize)> {
    use serde_json::json;
    let system = Actor::system("portcullis demo");
    let token = services
        .directory
        .create_directory(&system, "Okta")
        .await?
        .token;
    let okta = services
        .directory
        .authenticate(&token, meta("198.51.100.10", "Okta SCIM Client 1.0"))
        .await?
        .ok_or_else(|| Error::Internal("demo directory token".into()))?;
    let base = "http://localhost/scim/v2";
    let scim_err =
        |e: portcullis_scim::ScimError| Error::Internal(format!("demo SCIM: {}", e.detail));
    let mut ids = Vec::new();
    let mut n = 0usize;
    for (i, last) in LAST.iter().enumerate() {
        for (j, first) in FIRST.iter().enumerate() {
            if (i + j) % 4 == 3 {
                continue;
            }
            n += 1;
            let login = format!(
                "{}.{}@acme.example",
                first.to_lowercase(),
                last.to_lowercase()
                    .replace(['\'', ' '], "")
                    .replace('í', "i")
            );
            let dept = GROUPS[(i * 7 + j) % 8].0;
            let user = json!({
                "schemas": [portcullis_scim::USER_SCHEMA, portcullis_scim::ENTERPRISE_USER_SCHEMA],
                "userName": login,
                "name": { "givenName": first, "familyName": last },
                "displayName": format!("{first} {last}"),
                "title": if n.is_multiple_of(9) { "Engineering Manager" } else { "Staff" },
                "emails": [{ "value": login, "type": "work", "primary": true }],
                "externalId": format!("00u{:06x}", 0x1a2b00 + n),
                "active": true,
                portcullis_scim::ENTERPRISE_USER_SCHEMA: { "department": dept, "employeeNumber": format!("{}", 10_000 + n) }
            });
            let created = services
                .scim
                .create_user(&okta, base, user)
                .await
                .map_err(scim_err)?;
            ids.push(created["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    for (g, (name, stride)) in GROUPS.iter().enumerate() {
        let members: Vec<_> = ids
            .iter()
            .enumerate()
            .filter(|(k, _)| (k + g).is_multiple_of(*stride))
            .map(|(_, id)| json!({ "value": id }))
            .collect();
        services
            .scim
            .create_group(&okta, base, json!({ "displayName": name, "externalId": format!("00g{g:04}"), "members": members }))
            .await
            .map_err(scim_err)?;
    }
    // People who left: deactivated by Okta.
    for id in ids.iter().step_by(37) {
        services
            .scim
            .patch_user(
                &okta,
                base,
                id,
                &json!({ "Operations": [{ "op": "replace", "value": { "active": false } }] }),
                None,
            )
            .await
            .map_err(scim_err)?;
    }
    Ok((ids.len(), GROUPS.len()))
}

fn meta(ip: &str, ua: &str) -> RequestMeta {
    RequestMeta {
        source_ip: Some(ip.to_owned()),
        user_agent: Some(ua.to_owned()),
        request_id: None,
    }
}

/// Loads the sample. Fails with `Conflict` when the demo owner exists already.
pub async fn load(services: &Services) -> Result<DemoSummary> {
    let browser =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15";
    let owner_email = "dana.owner@acme.example";
    let owner_password = crate::clock::new_secret()[..20].to_owned();
    let console = &services.console;
    let link = console
        .create_owner(
            &Actor::system("portcullis demo"),
            owner_email,
            "Dana Whitfield",
        )
        .await?;
    let token = link
        .path
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .ok_or_else(|| Error::Internal("set-up link without token".into()))?;
    console
        .accept_link(
            meta("10.20.0.14", browser),
            &token,
            "Dana Whitfield",
            &owner_password,
        )
        .await?;
    let owner = console
        .sign_in(meta("10.20.0.14", browser), owner_email, &owner_password)
        .await?;
    let owner_actor = console
        .find_session(&owner.secret, meta("10.20.0.14", browser))
        .await?
        .ok_or_else(|| Error::Internal("demo owner session".into()))?;

    let people = [
        ("priya.raman@acme.example", "Priya Raman", Role::Admin, true),
        ("marcus.lee@acme.example", "Marcus Lee", Role::Admin, true),
        (
            "sofia.garcia@acme.example",
            "Sofia García",
            Role::Auditor,
            true,
        ),
        ("tom.becker@acme.example", "Tom Becker", Role::Admin, false),
        (
            "audit@kpmg-partner.example",
            "External audit (KPMG)",
            Role::Auditor,
            false,
        ),
    ];
    for (i, (email, name, role, accept)) in people.iter().enumerate() {
        let link = console
            .invite_admin(&owner_actor, email, name, *role)
            .await?;
        if *accept {
            let token = link
                .path
                .split_once("token=")
                .map(|(_, t)| t.to_owned())
                .unwrap_or_default();
            let password = crate::clock::new_secret()[..20].to_owned();
            console
                .accept_link(
                    meta(&format!("10.20.1.{}", 20 + i), browser),
                    &token,
                    name,
                    &password,
                )
                .await?;
        }
    }
    // A typo at sign-in, as happens every day.
    let _ = console
        .sign_in(
            meta("10.20.1.21", browser),
            "priya.raman@acme.example",
            "wrong password 1",
        )
        .await;
    let _ = console
        .sign_in(
            meta("203.0.113.77", "curl/8.5.0"),
            "root@acme.example",
            "admin123",
        )
        .await;
    if let Some(p) = console
        .list_admins(&owner_actor, "marcus", 0, 1)
        .await?
        .items
        .first()
    {
        console.set_role(&owner_actor, &p.id, Role::Auditor).await?;
        console.set_role(&owner_actor, &p.id, Role::Admin).await?;
    }
    let (directory_users, directory_groups) = load_directory(services).await?;
    Ok(DemoSummary {
        owner_email: owner_email.to_owned(),
        owner_password,
        admins: people.len() + 1,
        directory_users,
        directory_groups,
    })
}

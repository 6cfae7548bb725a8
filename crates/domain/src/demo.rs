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
    Ok(DemoSummary {
        owner_email: owner_email.to_owned(),
        owner_password,
        admins: people.len() + 1,
    })
}

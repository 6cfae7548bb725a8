//! The `portcullis` command line: `serve` (default), `migrate`,
//! `admin create-owner`, `audit verify|checkpoint|export`, `secret-key rotate|reseal`,
//! `scim-token create`, `gateway create`, `client create`, `api-key create`,
//! `demo`.

use crate::config::Config;
use crate::server;
use clap::{Parser, Subcommand};
use portcullis_domain::Actor;

/// Portcullis: the control plane for MCP access.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console and APIs (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage console admins from the host.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rotate the secret key that seals stored secrets.
    #[command(subcommand, name = "secret-key")]
    SecretKey(SecretKeyCommand),
    /// Manage SCIM directory tokens.
    #[command(subcommand, name = "scim-token")]
    ScimToken(ScimTokenCommand),
    /// Manage gateways (policy API clients).
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Manage OAuth clients of MCP users.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage API keys of the admin REST API.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Load a small, realistic sample into the database.
    Demo {
        /// Also register `demo-gateway` for the demo's MCP servers and write
        /// a `portcullis-gateway` configuration for it (with its credential)
        /// to this file; `GATEWAY=1 make run` starts it.
        #[arg(long, value_name = "PATH")]
        gateway_config: Option<std::path::PathBuf>,
    },
}

/// `portcullis gateway …`
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Register a gateway and print its credential (shown once).
    Create {
        /// The gateway's name, e.g. "edge-eu-1".
        #[arg(long)]
        name: String,
        /// What it is (shown on the Gateways page).
        #[arg(long, default_value = "")]
        description: String,
        /// An MCP server it fronts, by slug or id (repeatable).
        #[arg(long = "server")]
        servers: Vec<String>,
    },
}

/// `portcullis client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Pre-register an OAuth client and print its id (and secret, shown once).
    Create {
        /// The client's name, shown on the consent screen, e.g. "Claude Desktop".
        #[arg(long)]
        name: String,
        /// A redirect URI (repeatable); compared exactly, except that a
        /// loopback one may vary its port.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A confidential client: gets a secret (client_secret_basic).
        #[arg(long, conflicts_with_all = ["jwks_uri", "jwks_file"])]
        confidential: bool,
        /// A confidential client that signs client assertions
        /// (private_key_jwt) with keys published at this https URL.
        #[arg(long = "jwks-uri", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// The same with the public keys given as a JWKS file.
        #[arg(long = "jwks-file")]
        jwks_file: Option<std::path::PathBuf>,
    },
}

/// `portcullis api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key and print its secret (shown once): automation
    /// bootstrap and break-glass.
    Create {
        /// The key's name, e.g. "terraform" or "soar-playbook".
        #[arg(long)]
        name: String,
        /// `admin` (read and change) or `auditor` (read only).
        #[arg(long)]
        role: String,
        /// Days until the key stops working (1 to 3650); without it, until revoked.
        #[arg(long = "expires-days")]
        expires_days: Option<i64>,
    },
}

/// `portcullis admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an owner (break-glass) and print a one-time set-up link.
    CreateOwner {
        /// The owner's email address.
        #[arg(long)]
        email: String,
        /// The owner's display name.
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// `portcullis scim-token …`
#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a token for a directory (creating the directory if it does not
    /// exist) and print it once. Existing tokens keep working for the overlap.
    Create {
        /// The directory's name, e.g. "Okta".
        #[arg(long)]
        directory: String,
        /// Hours during which the directory's previous tokens keep working.
        #[arg(long, default_value_t = portcullis_domain::directory::DEFAULT_ROTATION_OVERLAP_HOURS)]
        overlap_hours: i64,
    },
}

/// `portcullis secret-key …`
#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Put a new key in PORTCULLIS_SECRET_KEY_FILE, keep the current one
    /// accepted for the grace period, and re-seal every stored secret
    /// under the new key (one transaction).
    Rotate {
        /// Hours the replaced key still opens what it sealed (replicas not
        /// yet restarted, a re-seal to finish).
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
    },
    /// Re-seal every stored secret under the current key (opening each with
    /// the current or a previous key).
    Reseal,
}

/// `portcullis audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and check the signed checkpoints; exit 1 and
    /// name the first bad event if broken, 2 if the checkpoint file is bad.
    Verify {
        /// A checkpoint exported earlier (`portcullis audit checkpoint`):
        /// also catches a truncated tail and a chain rewritten from scratch.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Export events, oldest first, as JSONL (event schema v1) or CSV
    /// (formula-injection safe), streamed: any size in bounded memory.
    Export {
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only this action or dotted prefix (`console.signin`).
        #[arg(long, default_value = "")]
        action: String,
        /// Only this actor (substring of the name, or an exact id).
        #[arg(long, default_value = "")]
        actor: String,
        /// From this time on (RFC 3339, inclusive).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Before this time (RFC 3339, exclusive).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this target (an exact id, or part of its name).
        #[arg(long, default_value = "")]
        target: String,
        /// Only this outcome: `success`, `failure` or `denied`.
        #[arg(long)]
        outcome: Option<portcullis_types::Outcome>,
        /// Only this source address or prefix (`10.1.`).
        #[arg(long, default_value = "")]
        source: String,
        /// Only events with this text in the action, actor, target or details.
        #[arg(long, default_value = "")]
        text: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Sign the chain head now (unless the newest checkpoint covers it) and
    /// export the newest checkpoint as JSON, to keep outside the database.
    Checkpoint {
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Show retention: the periods, the legal hold, what has been purged.
    Retention,
    /// Run retention now (the server runs it every hour): delete events
    /// older than PORTCULLIS_AUDIT_RETENTION_DAYS and blank gateway
    /// decisions older than PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS,
    /// unless a legal hold is in place.
    Purge,
    /// Place a legal hold: nothing is purged until it is released.
    Hold {
        /// Why (a matter or ticket reference).
        #[arg(long)]
        reason: String,
    },
    /// Release the legal hold; the next run purges what is due.
    Release,
    /// Erase a person's personal data from the audit log (a request to
    /// erase): their names, email addresses and source addresses in every
    /// event become a pseudonym; ids stay and the chain still verifies.
    /// Cannot be undone; recorded as `audit.erased`.
    Erase {
        /// The person's id as the log shows it (a directory user's or a
        /// console user's id).
        #[arg(long)]
        person: String,
    },
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<i32> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let running = server::start(config, server::shutdown_signal()).await?;
            server::spawn_housekeeping(running.services.clone());
            server::spawn_audit_checkpoints(running.services.clone());
            server::spawn_audit_retention(running.services.clone());
            server::spawn_audit_streaming(running.services.clone());
            println!("Portcullis listening on {}", running.public_url);
            tracing::info!(addr = %running.addr, public_url = %running.public_url, "listening");
            if let Some(link) = &running.setup_link {
                println!();
                println!("No owner has signed in yet. Open this one-time link to set up the first owner (valid 24 hours):");
                println!("  {link}");
                println!("(Lost it? Run `portcullis admin create-owner --email you@company.com`.)");
                println!();
            }
            running.done.await??;
            running.services.db().close().await;
            Ok(0)
        }
        Command::Migrate => {
            let db = server::open_database(&config).await?;
            println!("Migrations applied.");
            db.close().await;
            Ok(0)
        }
        Command::Admin(AdminCommand::CreateOwner { email, name }) => {
            let services = open_services(&config).await?;
            let link = services
                .console
                .create_owner(
                    &Actor::system("portcullis admin create-owner"),
                    &email,
                    &name,
                )
                .await?;
            let base = config.public_url_for(config.addr);
            println!(
                "Owner {} can set a password with this one-time link (expires {}):",
                link.email,
                link.expires_at.format("%Y-%m-%d %H:%M UTC")
            );
            println!("  {base}{}", link.path);
            Ok(0)
        }
        Command::Audit(AuditCommand::Verify { checkpoint }) => {
            let exported = match checkpoint {
                None => None,
                Some(path) => match read_checkpoint(&path) {
                    Ok(c) => Some(c),
                    Err(message) => {
                        eprintln!("{}: {message}", path.display());
                        return Ok(2);
                    }
                },
            };
            let services = open_services(&config).await?;
            let report = match services
                .audit
                .verify_with(&Actor::system("portcullis audit verify"), exported.as_ref())
                .await
            {
                Ok(r) => r,
                Err(portcullis_domain::Error::Invalid(errors)) => {
                    for e in errors {
                        eprintln!("{}: {}", e.field, e.message);
                    }
                    return Ok(2);
                }
                Err(e) => return Err(e.into()),
            };
            match report.first_bad_seq {
                None => {
                    println!(
                        "Audit chain OK: {} events verified (head {}), {} signed checkpoints match.",
                        report.checked, report.head_seq, report.checkpoints_checked
                    );
                    if let Some(through) = report.purged_through_seq {
                        println!(
                            "Events 1…{through} were purged by retention; the chain resumes from its signed purge record."
                        );
                    }
                    if report.redacted > 0 {
                        println!(
                            "{} gateway decisions were blanked by retention, each vouched for by a signed purge record.",
                            report.redacted
                        );
                    }
                    if report.erased > 0 {
                        println!(
                            "{} events had a person's personal data erased, each vouched for by a signed erasure record.",
                            report.erased
                        );
                    }
                    if report.latest_checkpoint_seq.is_none() && report.head_seq > 0 {
                        println!(
                            "No checkpoint is stored yet: `portcullis audit checkpoint` signs one."
                        );
                    }
                    Ok(0)
                }
                Some(seq) => {
                    println!(
                        "Audit chain BROKEN at event {seq}: {}. {} events before it verify.",
                        report.problem.unwrap_or_default(),
                        report.checked
                    );
                    Ok(1)
                }
            }
        }
        Command::Audit(AuditCommand::Export {
            format,
            action,
            actor,
            since,
            until,
            target,
            outcome,
            source,
            text,
            out,
        }) => {
            let format: portcullis_types::AuditExportFormat = match format.parse() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("--format: {e}");
                    return Ok(2);
                }
            };
            let services = open_services(&config).await?;
            let query = portcullis_types::AuditQuery {
                action,
                actor,
                since,
                until,
                target,
                outcome,
                source,
                text,
                ..Default::default()
            };
            let who = Actor::system("portcullis audit export");
            let started = std::time::Instant::now();
            let mut shown = std::time::Instant::now();
            let mut progress = |n: u64| {
                if out.is_some() && shown.elapsed() >= std::time::Duration::from_secs(1) {
                    eprint!("\r… {n} events");
                    shown = std::time::Instant::now();
                }
            };
            let written = match &out {
                Some(path) => {
                    let file = tokio::fs::File::create(path)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    let mut file = tokio::io::BufWriter::new(file);
                    services
                        .audit
                        .export(&who, &query, format, &mut file, &mut progress)
                        .await?
                }
                None => {
                    let mut stdout = tokio::io::stdout();
                    services
                        .audit
                        .export(&who, &query, format, &mut stdout, &mut progress)
                        .await?
                }
            };
            if let Some(path) = &out {
                eprintln!(
                    "\r{written} events written to {} in {:.1} s.",
                    path.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(0)
        }
        Command::Audit(AuditCommand::Checkpoint { out }) => {
            let services = open_services(&config).await?;
            let Some(checkpoint) = services
                .audit
                .checkpoint_now(&Actor::system("portcullis audit checkpoint"))
                .await?
            else {
                eprintln!("The audit log is empty: there is nothing to sign yet.");
                return Ok(1);
            };
            let json = serde_json::to_string_pretty(&checkpoint)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{json}\n"))
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    println!(
                        "Checkpoint of event {} (signed {}) written to {}.",
                        checkpoint.seq,
                        checkpoint.signed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        path.display()
                    );
                }
                None => println!("{json}"),
            }
            Ok(0)
        }
        Command::Audit(AuditCommand::Retention) => {
            let services = open_services(&config).await?;
            let r = services
                .audit
                .retention(&Actor::system("portcullis audit retention"))
                .await?;
            print_retention(&r);
            Ok(0)
        }
        Command::Audit(AuditCommand::Purge) => {
            let services = open_services(&config).await?;
            let outcome = services
                .audit
                .purge(&Actor::system("portcullis audit purge"))
                .await?;
            if outcome.held {
                println!("A legal hold is in place: nothing was purged (`portcullis audit retention` shows it).");
            } else if outcome.purged_through_seq.is_none() && outcome.redacted_through_seq.is_none()
            {
                println!("Nothing is older than the retention periods: nothing was purged.");
            } else {
                if let Some(through) = outcome.purged_through_seq {
                    println!(
                        "Purged {} events (through event {through}).",
                        outcome.purged
                    );
                }
                if let Some(through) = outcome.redacted_through_seq {
                    println!(
                        "Blanked {} gateway decisions (through event {through}).",
                        outcome.redacted
                    );
                }
            }
            Ok(0)
        }
        Command::Audit(AuditCommand::Erase { person }) => {
            let services = open_services(&config).await?;
            match services
                .audit
                .erase(&Actor::system("portcullis audit erase"), &person)
                .await
            {
                Ok(done) => {
                    println!(
                        "Erased {}'s personal data from {} events (events {}…{}): they now read \"{}\". Erasure {}, recorded as event {}.",
                        done.person_id,
                        done.events,
                        done.first_seq,
                        done.last_seq,
                        done.pseudonym,
                        done.id,
                        done.event_id
                    );
                    Ok(0)
                }
                Err(e) => exit_refused(e),
            }
        }
        Command::Audit(AuditCommand::Hold { reason }) => {
            let services = open_services(&config).await?;
            match services
                .audit
                .place_legal_hold(&Actor::system("portcullis audit hold"), &reason)
                .await
            {
                Ok(r) => {
                    println!(
                        "Legal hold placed: nothing is purged until `portcullis audit release`."
                    );
                    print_retention(&r);
                    Ok(0)
                }
                Err(e) => exit_refused(e),
            }
        }
        Command::Audit(AuditCommand::Release) => {
            let services = open_services(&config).await?;
            match services
                .audit
                .lift_legal_hold(&Actor::system("portcullis audit release"))
                .await
            {
                Ok(r) => {
                    println!("Legal hold released: the next retention run purges what is due.");
                    print_retention(&r);
                    Ok(0)
                }
                Err(portcullis_domain::Error::NotFound(_)) => {
                    eprintln!("No legal hold is in place.");
                    Ok(2)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::SecretKey(SecretKeyCommand::Rotate { grace_hours }) => {
            if config.secret_key.is_some() {
                eprintln!(
                    "The secret key comes from PORTCULLIS_SECRET_KEY, which this command cannot \
                     change. Set PORTCULLIS_SECRET_KEY to a new key (base64 of 32 random bytes, \
                     e.g. `openssl rand -base64 32`) and PORTCULLIS_SECRET_KEY_PREVIOUS to the \
                     old one, then run `portcullis secret-key reseal`."
                );
                return Ok(2);
            }
            if !(1..=24 * 90).contains(&grace_hours) {
                eprintln!("--grace-hours: use 1 to 2160");
                return Ok(2);
            }
            // The current key (created now if there is none yet) and the
            // database, before anything changes.
            let current = config.load_secret_key()?;
            let db = server::open_database(&config).await?;
            let now = chrono::Utc::now();
            let until = now + chrono::Duration::hours(grace_hours);
            crate::secret_key::rotate_files(&config.secret_key_file, &current, until, now)
                .map_err(|m| anyhow::anyhow!("PORTCULLIS_SECRET_KEY_FILE: {m}"))?;
            println!(
                "New secret key written to {}; the previous one opens what it sealed until {}.",
                config.secret_key_file.display(),
                until.format("%Y-%m-%d %H:%M UTC")
            );
            reseal(&config, db, "portcullis secret-key rotate").await
        }
        Command::SecretKey(SecretKeyCommand::Reseal) => {
            let db = server::open_database(&config).await?;
            reseal(&config, db, "portcullis secret-key reseal").await
        }
        Command::ScimToken(ScimTokenCommand::Create {
            directory,
            overlap_hours,
        }) => {
            let services = open_services(&config).await?;
            let actor = Actor::system("portcullis scim-token create");
            let token = match services.directory.find_directory_id(&directory).await? {
                Some(id) => {
                    services
                        .directory
                        .rotate_token(&actor, &id, overlap_hours)
                        .await?
                }
                None => {
                    services
                        .directory
                        .create_directory(&actor, &directory)
                        .await?
                }
            };
            let base = config.public_url_for(config.addr);
            println!("SCIM base URL:  {base}/scim/v2");
            println!(
                "Bearer token for directory {} (shown once):",
                token.directory_name
            );
            println!("  {}", token.token);
            Ok(0)
        }
        Command::ApiKey(ApiKeyCommand::Create {
            name,
            role,
            expires_days,
        }) => {
            let services = open_services(&config).await?;
            let created = services
                .api_keys
                .create(
                    &Actor::system("portcullis api-key create"),
                    &portcullis_types::ApiKeyInput {
                        name,
                        role,
                        expires_days,
                    },
                )
                .await?;
            let base = config.public_url_for(config.addr);
            println!("Admin API:   {base}/api/v1/admin/");
            println!("OpenAPI:     {base}/api/openapi.json");
            println!(
                "API key {} ({}{}), shown once; send as Authorization: Bearer:",
                created.key.name,
                created.key.role.as_str(),
                created
                    .key
                    .expires_at
                    .map(|t| format!(", expires {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            );
            println!("  {}", created.secret);
            Ok(0)
        }
        Command::Gateway(GatewayCommand::Create {
            name,
            description,
            servers,
        }) => {
            let services = open_services(&config).await?;
            let created = services
                .gateways
                .create(
                    &Actor::system("portcullis gateway create"),
                    &portcullis_types::GatewayInput {
                        name,
                        description,
                        server_ids: servers,
                    },
                )
                .await?;
            let base = config.public_url_for(config.addr);
            println!("Policy URL:  {base}/api/v1/policy");
            println!("JWKS URL:    {base}/.well-known/jwks.json");
            println!(
                "Credential for gateway {} (shown once; send as Authorization: Bearer):",
                created.name
            );
            println!("  {}", created.token);
            Ok(0)
        }
        Command::Client(ClientCommand::Create {
            name,
            redirect_uris,
            confidential,
            jwks_uri,
            jwks_file,
        }) => {
            use portcullis_domain::oauth::model::ClientKeys;
            let keys = match (jwks_uri, jwks_file) {
                (Some(u), _) => Some(ClientKeys::JwksUri(u)),
                (None, Some(f)) => Some(ClientKeys::Jwks(
                    std::fs::read_to_string(&f)
                        .map_err(|e| anyhow::anyhow!("--jwks-file {}: {e}", f.display()))?,
                )),
                (None, None) => None,
            };
            let private_key_jwt = keys.is_some();
            let services = open_services(&config).await?;
            let created = services
                .oauth
                .create_client(
                    &Actor::system("portcullis client create"),
                    &portcullis_domain::oauth::model::CreateClient {
                        name,
                        redirect_uris,
                        confidential,
                        keys,
                    },
                )
                .await?;
            let base = config.public_url_for(config.addr);
            println!("Issuer:         {base}");
            println!("Client ID:      {}", created.client_id);
            match created.client_secret {
                Some(secret) => {
                    println!("Client secret (shown once; client_secret_basic):");
                    println!("  {secret}");
                }
                None if private_key_jwt => println!(
                    "Confidential client: authenticates with private_key_jwt (RFC 7523), aud = {base}/oauth/token."
                ),
                None => println!("Public client: no secret (PKCE only)."),
            }
            Ok(0)
        }
        Command::Demo { gateway_config } => {
            let db = server::open_database(&config).await?;
            // The sample happens over the last 14 days: its services run
            // on a clock the demo moves, brought to now once it is loaded.
            let end = portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock);
            let clock = std::sync::Arc::new(portcullis_domain::clock::ManualClock::new(
                crate::demo::Timeline::start_of(end),
            ));
            let services = server::services_with_clock(&config, db, clock.clone())?;
            let summary = {
                let time = crate::demo::Timeline::new(&clock, end);
                crate::demo::load(&services, &time, end).await?
            };
            clock.advance(
                portcullis_domain::clock::Clock::now(&portcullis_domain::clock::SystemClock)
                    - portcullis_domain::clock::Clock::now(clock.as_ref()),
            );
            println!(
                "Demo data loaded: {} console users, directory \"Okta\" with {} people and {} groups, {} MCP servers with {} tools, {} grants, and their audit trail.",
                summary.admins,
                summary.directory_users,
                summary.directory_groups,
                summary.servers,
                summary.tools,
                summary.grants
            );
            println!(
                "Sign in as {} with password {}",
                summary.owner_email, summary.owner_password
            );
            if let Some(path) = gateway_config {
                demo_gateway(&config, &services, &path).await?;
                println!(
                    "Gateway demo-gateway registered for the demo servers; its configuration is in {}",
                    path.display()
                );
            }
            Ok(0)
        }
    }
}

/// Registers `demo-gateway` for every demo server and writes a
/// `portcullis-gateway` configuration for it to `path` (mode 0600: it holds
/// the credential). The demo's servers are fictional (`mcp.acme.example`),
/// so each upstream URL is a placeholder on 127.0.0.1 that an operator
/// replaces with the real server; until then the gateway still verifies
/// tokens, enforces the policy and reports its revision, and an allowed call
/// answers 502.
async fn demo_gateway(
    config: &Config,
    services: &portcullis_domain::Services,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let actor = Actor::system("portcullis demo");
    let servers = services.catalog.list_servers(&actor, "", 0, 200).await?;
    let created = services
        .gateways
        .create(
            &actor,
            &portcullis_types::GatewayInput {
                name: "demo-gateway".to_owned(),
                description:
                    "The reference gateway (portcullis-gateway) that `GATEWAY=1 make run` starts"
                        .to_owned(),
                server_ids: servers.items.iter().map(|s| s.id.clone()).collect(),
            },
        )
        .await?;
    let base = config.public_url_for(config.addr);
    let state = path.with_file_name("gateway-state");
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# portcullis-gateway configuration written by `portcullis demo` (docs/gateway.md)."
    );
    let _ = writeln!(toml, "listen = \"127.0.0.1:8443\"");
    let _ = writeln!(toml, "state_dir = {:?}", state.display().to_string());
    let _ = writeln!(
        toml,
        "\n[console]\nurl = {base:?}\ncredential = {:?}",
        created.token
    );
    for s in &servers.items {
        let path = url::Url::parse(&s.resource_url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| format!("/{}", s.slug));
        let _ = writeln!(
            toml,
            "\n# {} — replace url with the server's real address.\n[[upstream]]\nresource = {:?}\nurl = \"http://127.0.0.1:9{path}\"",
            s.name, s.resource_url
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, toml.as_bytes())?;
    Ok(())
}

/// Re-seals every stored secret under the configured key; prints what it did.
async fn reseal(config: &Config, db: portcullis_domain::Db, command: &str) -> anyhow::Result<i32> {
    // Opens with the current key and every previous one; seals with the
    // current key alone.
    let services = server::services(config, db)?;
    let new = portcullis_domain::secrets::SecretBox::new(&config.load_secret_key()?);
    match services.reseal_secrets(&Actor::system(command), &new).await {
        Ok(r) => {
            println!(
                "Re-sealed {} stored secrets ({} signing keys, {} OIDC client secrets, {} SSO sign-ins in flight, {} audit streaming keys).",
                r.total(),
                r.signing_keys,
                r.sso_client_secrets,
                r.sso_requests,
                r.audit_sink_secrets
            );
            println!(
                "Restart every console replica now; replicas sharing the database need the new key."
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!(
                "Nothing was re-sealed: {e}. The stored secrets still open with the keys \
                 configured; fix the cause and run `portcullis secret-key reseal`."
            );
            Ok(1)
        }
    }
}

/// Reads an exported audit checkpoint (`portcullis audit checkpoint`).
fn read_checkpoint(path: &std::path::Path) -> Result<portcullis_types::AuditCheckpoint, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let checkpoint: portcullis_types::AuditCheckpoint =
        serde_json::from_str(&text).map_err(|e| format!("not an audit checkpoint: {e}"))?;
    if checkpoint.format != portcullis_types::AUDIT_CHECKPOINT_FORMAT {
        return Err(format!(
            "format {:?} is not {:?}",
            checkpoint.format,
            portcullis_types::AUDIT_CHECKPOINT_FORMAT
        ));
    }
    Ok(checkpoint)
}

/// Prints retention as `portcullis audit retention` shows it.
/// The configured database, migrated, and the services over it.
async fn open_services(config: &Config) -> anyhow::Result<portcullis_domain::Services> {
    let db = server::open_database(config).await?;
    server::services(config, db)
}

fn print_retention(r: &portcullis_types::AuditRetention) {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("never".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    println!("Events kept:            {} days", r.retention_days);
    println!("Gateway decisions kept: {} days", r.decision_retention_days);
    match &r.legal_hold {
        Some(h) => println!(
            "Legal hold:             in place since {} by {} ({})",
            h.placed_at.format("%Y-%m-%d %H:%M:%S UTC"),
            h.placed_by,
            h.reason
        ),
        None => println!("Legal hold:             none"),
    }
    let seq = |s: Option<i64>| s.map_or("none".to_owned(), |s| format!("through event {s}"));
    println!("Purged:                 {}", seq(r.purged_through_seq));
    println!("Decisions blanked:      {}", seq(r.redacted_through_seq));
    println!("Last purge:             {}", time(r.last_purge_at));
    println!("Oldest event kept:      {}", time(r.oldest_event_at));
}

/// Exit 2 with the message for a refusal (bad input, a conflict); any
/// other error propagates.
fn exit_refused(e: portcullis_domain::Error) -> anyhow::Result<i32> {
    match e {
        e @ (portcullis_domain::Error::Invalid(_) | portcullis_domain::Error::Conflict { .. }) => {
            eprintln!("{e}");
            Ok(2)
        }
        e => Err(e.into()),
    }
}

//! Test servers and databases.

use portcullis::config::Config;
use portcullis::server::{self, Running};
use std::collections::BTreeMap;
use tokio::sync::oneshot;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A fresh database: a SQLite file in a temp dir, or a new PostgreSQL
/// database dropped when this value is dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
    /// The test this database belongs to, watched for hanging.
    _watch: Option<crate::watchdog::Ticket>,
}

impl TestDb {
    /// A new SQLite database file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("sqlite:{}/portcullis.db", dir.path().display());
        Self {
            url,
            _dir: Some(dir),
            pg_drop: None,
            _watch: Some(crate::watchdog::check_in()),
        }
    }

    /// A new PostgreSQL database on the server named by
    /// `PORTCULLIS_TEST_POSTGRES_URL` (default the local trust-auth server).
    pub async fn postgres() -> Self {
        use sqlx::Connection;
        let admin = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        Self {
            url: format!("{base}/{name}"),
            _dir: None,
            pg_drop: Some((admin, name)),
            _watch: Some(crate::watchdog::check_in()),
        }
    }
}

impl TestDb {
    /// A database at `url` that the test manages itself (not dropped).
    pub fn at(url: &str) -> TestDb {
        TestDb {
            url: url.to_owned(),
            _dir: None,
            pg_drop: None,
            _watch: None,
        }
    }

    /// The same database under another handle that does not drop it (a
    /// second replica's view).
    pub fn alias(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            _dir: None,
            pg_drop: None,
            _watch: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take() {
            // Drop on a separate thread with its own runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running console with an HTTP client that keeps cookies.
pub struct TestServer {
    pub base: String,
    pub setup_link: Option<String>,
    pub running: Running,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

/// The configuration tests use: loopback, port 0, and `extra` overrides.
pub fn test_config(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("DATABASE_URL".into(), db.url.clone());
    env.insert("PORTCULLIS_ADDR".into(), "127.0.0.1:0".into());
    env.insert("PORTCULLIS_CONFIG".into(), "".into());
    env.insert("PORTCULLIS_SITE_ROOT".into(), "target/site".into());
    env.insert(
        "PORTCULLIS_BOOTSTRAP_OWNER_EMAIL".into(),
        "owner@test.example".into(),
    );
    // A fixed secret key, so servers on the same database (restarts,
    // replicas) open each other's sealed values, as a deployment would.
    env.insert(
        "PORTCULLIS_SECRET_KEY".into(),
        "dGVzdC1zZWNyZXQta2V5LW9mLTMyLWJ5dGVzLWxvbmc=".into(),
    );
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::load(&env).unwrap_or_else(|e| panic!("test config: {e}"))
}

impl TestServer {
    /// A server on a fresh SQLite database.
    pub async fn start() -> Self {
        Self::start_on(TestDb::sqlite(), &[]).await
    }

    /// A server on `db` with configuration overrides.
    pub async fn start_on(db: TestDb, extra: &[(&str, &str)]) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let running = server::start(test_config(&db, extra), async move {
            let _ = rx.await;
        })
        .await
        .unwrap_or_else(|e| panic!("server start: {e:#}"));
        Self {
            base: format!("http://{}", running.addr),
            setup_link: running.setup_link.clone(),
            running,
            db,
            shutdown: Some(tx),
        }
    }

    /// A client that keeps cookies, follows no redirects, and sends the
    /// same-origin markings a browser would.
    pub fn client(&self) -> reqwest::Client {
        browser_client()
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"))
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Calls a server function with form fields; returns status and body.
    pub async fn call(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let res = client
            .post(self.url(&format!("/api/console/{endpoint}")))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {endpoint}: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, body)
    }

    /// The token of a set-up link.
    pub fn token_of(link: &str) -> String {
        link.split_once("token=")
            .map(|(_, t)| t.to_owned())
            .unwrap_or_default()
    }

    /// Sets up the first owner through its link and returns a signed-in client.
    pub async fn owner_client(&self, password: &str) -> reqwest::Client {
        let client = self.client();
        let link = self
            .setup_link
            .clone()
            .unwrap_or_else(|| panic!("no setup link"));
        let (status, body) = self
            .call(
                &client,
                "accept_link",
                &[
                    ("token", &Self::token_of(&link)),
                    ("display_name", "Olive Owner"),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(status, 200, "accept_link: {body}");
        client
    }

    /// Stops the server and hands back its database (to start another
    /// server on it).
    pub async fn stop_keep_db(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.running.done).await;
        self.running.services.db().close().await;
        self.db
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.running.done).await;
    }
}

/// The audit events whose action starts with `prefix`, oldest first:
/// (seq, action, actor_display, target_display, outcome).
pub async fn audit_rows(
    db_url: &str,
    prefix: &str,
) -> Vec<(i64, String, String, Option<String>, String)> {
    let db = portcullis_domain::Db::connect(db_url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let q = "SELECT seq, action, actor_display, target_display, outcome FROM audit_events \
             WHERE action LIKE $1 ORDER BY seq";
    let pattern = format!("{prefix}%");
    let rows = match &db {
        portcullis_domain::Db::Sqlite(p, _) => sqlx::query_as(q).bind(&pattern).fetch_all(p).await,
        portcullis_domain::Db::Postgres(p, _) => {
            sqlx::query_as(q).bind(&pattern).fetch_all(p).await
        }
    }
    .unwrap_or_else(|e| panic!("audit rows: {e}"));
    db.close().await;
    rows
}

/// A new admin API key named `name` with `role`, made by the system.
pub async fn api_key(srv: &TestServer, name: &str, role: &str) -> portcullis_types::NewApiKey {
    srv.running
        .services
        .api_keys
        .create(
            &portcullis_domain::Actor::system("test"),
            &portcullis_types::ApiKeyInput {
                name: name.into(),
                role: role.into(),
                expires_days: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create key {name}: {e}"))
}

/// The actions of the audit events whose action starts with `prefix`,
/// oldest first.
pub async fn audit_actions(db_url: &str, prefix: &str) -> Vec<String> {
    audit_rows(db_url, prefix)
        .await
        .into_iter()
        .map(|r| r.1)
        .collect()
}

/// Every audit event's details and target as one text (to show what is
/// stored nowhere).
pub async fn audit_text(db_url: &str) -> String {
    let db = portcullis_domain::Db::connect(db_url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let q = "SELECT COALESCE(details, '') || ' ' || COALESCE(target_display, '') FROM audit_events";
    let rows: Vec<(String,)> = match &db {
        portcullis_domain::Db::Sqlite(p, _) => sqlx::query_as(q).fetch_all(p).await,
        portcullis_domain::Db::Postgres(p, _) => sqlx::query_as(q).fetch_all(p).await,
    }
    .unwrap_or_else(|e| panic!("audit text: {e}"));
    db.close().await;
    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
}

/// Total number of audit events.
pub async fn audit_count(db_url: &str) -> i64 {
    audit_rows(db_url, "").await.len() as i64
}

/// The visible text of an HTML page: tags and comments removed.
pub fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Makes, for each `async fn name(&TestDb) -> TestResult` in the calling
/// module, a SQLite test `sqlite::name` and an ignored PostgreSQL test
/// `postgres::name` (`make test` runs the ignored ones when PostgreSQL answers).
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() -> crate::harness::TestResult {
                    let db = crate::harness::TestDb::sqlite();
                    super::$name(&db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL on 127.0.0.1:5432; `make test` runs it when it answers"]
                async fn $name() -> crate::harness::TestResult {
                    let db = crate::harness::TestDb::postgres().await;
                    super::$name(&db).await
                }
            )*
        }
    };
}
pub(crate) use backend_tests;

/// A client builder that keeps cookies, follows no redirects, and sends
/// the same-origin markings a browser would.
pub fn browser_client() -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "sec-fetch-site",
        reqwest::header::HeaderValue::from_static("same-origin"),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
}

/// A test CA (valid two days) and a TLS acceptor for `localhost` signed by
/// it: servers in tests speak TLS with it, and the console trusts
/// `ca_pem` (`PORTCULLIS_FETCH_CA_FILE`, `Settings::fetch_extra_roots_pem`).
pub struct TestTls {
    pub ca_pem: Vec<u8>,
    pub acceptor: std::sync::Arc<openssl::ssl::SslAcceptor>,
}

#[allow(clippy::unwrap_used)]
pub fn test_tls() -> TestTls {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::ssl::{SslAcceptor, SslMethod};
    use openssl::x509::extension::{
        BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    };
    use openssl::x509::{X509NameBuilder, X509};
    let key = || {
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
    };
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let serial = |n: u32| {
        openssl::bn::BigNum::from_u32(n)
            .unwrap()
            .to_asn1_integer()
            .unwrap()
    };
    let ca_key = key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial(1)).unwrap();
    b.set_subject_name(&name("Portcullis test CA")).unwrap();
    b.set_issuer_name(&name("Portcullis test CA")).unwrap();
    b.set_pubkey(&ca_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = b.build();
    let leaf_key = key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial(2)).unwrap();
    b.set_subject_name(&name("localhost")).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&leaf_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&b.x509v3_context(Some(&ca), None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
        .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let leaf = b.build();
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_private_key(&leaf_key).unwrap();
    acc.set_certificate(&leaf).unwrap();
    acc.add_extra_chain_cert(ca.clone()).unwrap();
    TestTls {
        ca_pem: ca.to_pem().unwrap(),
        acceptor: std::sync::Arc::new(acc.build()),
    }
}

//! What the SCIM load benchmarks share: timed phases of requests sent with
//! bounded concurrency, and a scratch PostgreSQL database.

use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Latencies of one phase and how long it took.
pub struct Phase {
    pub name: String,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Phase {
    /// The `p` quantile in milliseconds.
    pub fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)].as_secs_f64() * 1e3
    }

    /// Count, rate, p50 and p99.
    pub fn print_writes(&self) {
        let n = self.latencies.len();
        println!(
            "  {:<26} {:>7} writes {:>7.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            self.name,
            n,
            n as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.50),
            self.pct(0.99)
        );
    }
}

/// SCIM's media type for `/scim/v2/…`, JSON for the admin API.
fn content_type(url: &str) -> &'static str {
    if url.contains("/scim/") {
        "application/scim+json"
    } else {
        "application/json"
    }
}

/// Sends `requests` with bounded concurrency; every answer must be
/// `expect`. Returns the phase and the answers' bodies.
pub async fn run(
    name: &str,
    http: &reqwest::Client,
    token: &str,
    concurrency: usize,
    requests: Vec<(reqwest::Method, String, Value)>,
    expect: u16,
) -> Res<(Phase, Vec<Value>)> {
    let sem = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for (method, url, body) in requests {
        let permit = sem.clone().acquire_owned().await?;
        let http = http.clone();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = http
                .request(method, &url)
                .bearer_auth(token)
                .header("content-type", content_type(&url))
                .body(body.to_string())
                .send()
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => return Err(e),
            };
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let took = t.elapsed();
            drop(permit);
            Ok((status, took, body))
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut bodies = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (status, took, body) = t.await??;
        if status != expect {
            return Err(format!("{name}: expected {expect}, got {status}: {body}").into());
        }
        latencies.push(took);
        bodies.push(body);
    }
    Ok((
        Phase {
            name: name.to_owned(),
            latencies,
            elapsed: start.elapsed(),
        },
        bodies,
    ))
}

/// Runs `f` on a fresh database of the PostgreSQL server at
/// `PORTCULLIS_TEST_POSTGRES_URL` (default 127.0.0.1:5432), dropped after;
/// says SKIPPED when the server does not answer.
pub async fn with_postgres<F, Fut>(f: F) -> Res<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Res<()>>,
{
    use sqlx::Connection;
    let admin = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => {
            println!("PostgreSQL: SKIPPED ({admin} does not answer: {e})");
            return Ok(());
        }
    };
    let name = format!("portcullis_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let r = f(format!("{base}/{name}")).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    r
}

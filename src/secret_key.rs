//! The secret key's files and its rotation (`portcullis secret-key rotate`).
//!
//! The key lives in `PORTCULLIS_SECRET_KEY_FILE` (or `PORTCULLIS_SECRET_KEY`).
//! Keys it replaced are kept beside it in `<file>.previous`, one per line
//! as `BASE64 UNTIL` (RFC 3339): each still opens values sealed with it
//! until then (the grace period), never seals. `PORTCULLIS_SECRET_KEY_PREVIOUS`
//! (comma-separated base64) adds keys without a deadline, for deployments
//! that give the key in the environment.
//!
//! Rotation writes the files first (the old key into `.previous`, then the
//! new key, each atomically: temporary file, fsync, rename, fsync of the
//! folder) and re-seals the database afterwards, in one transaction. If the
//! re-seal fails, nothing is lost: the new key seals, the old one still
//! opens, and `portcullis secret-key reseal` finishes the job.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Utc};
use portcullis_domain::secrets::SecretBox;

/// `<key file>.previous`.
pub fn previous_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".previous");
    PathBuf::from(name)
}

/// One line of the previous-keys file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousKey {
    pub key: [u8; 32],
    pub until: DateTime<Utc>,
}

/// The keys of `path` still in their grace period at `now` (a missing file
/// is none); an unreadable line is an error naming the file and the line.
pub fn read_previous(path: &Path, now: DateTime<Utc>) -> Result<Vec<PreviousKey>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| format!("{} line {}: {m}", path.display(), i + 1);
        let (key, until) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("expected `KEY UNTIL`"))?;
        let key = SecretBox::parse_key(key).map_err(|m| bad(&m))?;
        let until = DateTime::parse_from_rfc3339(until.trim())
            .map_err(|e| bad(&format!("the deadline is not RFC 3339: {e}")))?
            .with_timezone(&Utc);
        if until > now {
            keys.push(PreviousKey { key, until });
        }
    }
    Ok(keys)
}

/// Writes `contents` to `path` atomically and durably (mode 0600).
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    crate::config::sync_dir(path)
}

fn b64(key: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Puts a new key in `key_file` and keeps `current` (and the previous keys
/// still in their grace period) accepted until `until`. Returns the new key.
pub fn rotate_files(
    key_file: &Path,
    current: &[u8; 32],
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<[u8; 32], String> {
    let prev_path = previous_file(key_file);
    let mut lines = String::from(
        "# Keys replaced by `portcullis secret-key rotate`: each opens values\n\
         # sealed with it until the deadline, never seals. KEY UNTIL (RFC 3339)\n",
    );
    for p in read_previous(&prev_path, now)? {
        lines.push_str(&format!("{} {}\n", b64(&p.key), p.until.to_rfc3339()));
    }
    lines.push_str(&format!("{} {}\n", b64(current), until.to_rfc3339()));
    write_atomic(&prev_path, &lines)
        .map_err(|e| format!("cannot write {}: {e}", prev_path.display()))?;
    let new = SecretBox::generate_key();
    write_atomic(key_file, &format!("{}\n", b64(&new)))
        .map_err(|e| format!("cannot write {}: {e}", key_file.display()))?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_for_its_grace_period_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("secret.key");
        let now = Utc::now();
        let first = SecretBox::generate_key();
        write_atomic(&file, &format!("{}\n", b64(&first))).unwrap_or_else(|e| panic!("{e}"));
        let second = rotate_files(&file, &first, now + chrono::Duration::hours(24), now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(second, first);
        let on_disk = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            SecretBox::parse_key(&on_disk).unwrap_or_else(|e| panic!("{e}")),
            second
        );
        let prev = previous_file(&file);
        assert_eq!(
            read_previous(&prev, now)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|p| p.key)
                .collect::<Vec<_>>(),
            vec![first]
        );
        // A second rotation keeps both earlier keys while they are in grace.
        let third = rotate_files(&file, &second, now + chrono::Duration::hours(1), now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(third, second);
        assert_eq!(
            read_previous(&prev, now)
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            2
        );
        // Past their deadlines they are not read.
        assert_eq!(
            read_previous(&prev, now + chrono::Duration::hours(2))
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            1
        );
        assert!(read_previous(&prev, now + chrono::Duration::days(2))
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [&file, &prev] {
                let mode = std::fs::metadata(f)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or_default();
                assert_eq!(mode, 0o600, "{}", f.display());
            }
        }
        std::fs::write(&prev, "garbage\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read_previous(&prev, now), Err(m) if m.contains("line 1")));
    }
}

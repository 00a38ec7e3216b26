//! The control API's bearer token: `<data_dir>/api.token`, 32 random bytes as hex,
//! created once with mode 0600 and reused on every later start, so the CLI of the
//! same user (or `YUQING_TOKEN`) keeps working across restarts.

use std::path::{Path, PathBuf};

use rand::RngCore;

/// The token file's name inside the data directory.
pub const TOKEN_FILE: &str = "api.token";

/// Where the token lives for a data directory.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The IO cause is part of each one-line message, so it is not chained as a `source`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("无法读取控制接口令牌 {path}：{}；请检查文件权限（应只有运行守护进程的用户可读）", crate::os_error::describe(.error))]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("无法创建控制接口令牌 {path}：{}；请检查数据目录的权限和磁盘空间", crate::os_error::describe(.error))]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "控制接口令牌 {path} 内容无效（应为至少 32 个可见字符）；请删除该文件，守护进程会在启动时重新生成"
    )]
    Invalid { path: PathBuf },
}

/// A bearer token. Compared in constant time; never printed by `Debug`.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A fresh token: 32 bytes from the thread-local CSPRNG, as 64 hex digits.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A token given by the user (e.g. `YUQING_TOKEN`), trimmed.
    pub fn from_text(text: &str) -> Option<Token> {
        let text = text.trim();
        (text.len() >= 32 && text.chars().all(|c| c.is_ascii_graphic()))
            .then(|| Token(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison (for equal lengths; the length itself is not secret).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        if mine.len() != presented.len() {
            return false;
        }
        let diff = mine
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // Keep the optimizer from short-circuiting the fold.
        std::hint::black_box(diff) == 0
    }

    /// Reads the token file.
    pub fn read(path: &Path) -> Result<Token, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|error| TokenError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Token::from_text(&text).ok_or_else(|| TokenError::Invalid {
            path: path.to_path_buf(),
        })
    }

    /// The daemon's token: read `<data_dir>/api.token`, or create it (0600, written to
    /// a temporary file and renamed into place, so no reader ever sees half a token).
    pub fn load_or_create(data_dir: &Path) -> Result<Token, TokenError> {
        let path = token_path(data_dir);
        match Token::read(&path) {
            Ok(token) => {
                tighten_permissions(&path);
                return Ok(token);
            }
            Err(TokenError::Read { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(err) => return Err(err),
        }
        let write_err = |error| TokenError::Write {
            path: path.clone(),
            error,
        };
        std::fs::create_dir_all(data_dir).map_err(write_err)?;
        let token = Token::generate();
        let text = format!("{}\n", token.0);
        crate::atomic_file::write(&path, text.as_bytes(), crate::atomic_file::Access::Private)
            .map_err(|err| write_err(err.into_io()))?;
        tracing::info!(path = %path.display(), "created control API token");
        Ok(token)
    }
}

/// A token file others can read is fixed to 0600, with a warning.
#[cfg(unix)]
fn tighten_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
            "control API token was readable by others; setting mode 0600");
        if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), %err, "could not set mode 0600 on the token");
        }
    }
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = Token::load_or_create(&data).unwrap();
        assert_eq!(first.as_str().len(), 64);
        assert!(first.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(token_path(&data))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Token::load_or_create(&data).unwrap();
        assert_eq!(first.as_str(), second.as_str());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(TOKEN_FILE)]);
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(Token::generate().as_str(), Token::generate().as_str());
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_token_file_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let token = Token::load_or_create(dir.path()).unwrap();
        assert_eq!(token.as_str(), "0123456789abcdef0123456789abcdef");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_token_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        std::fs::write(&path, "short\n").unwrap();
        let err = Token::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, TokenError::Invalid { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
    }

    #[test]
    fn comparison_requires_the_exact_token() {
        let token = Token::from_text("0123456789abcdef0123456789abcdef").unwrap();
        assert!(token.matches(b"0123456789abcdef0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdef0123456789abcdee"));
        assert!(!token.matches(b"0123456789abcdef0123456789abcde"));
        assert!(!token.matches(b""));
        assert!(Token::from_text("   ").is_none());
        assert_eq!(format!("{token:?}"), "Token(…)");
    }
}

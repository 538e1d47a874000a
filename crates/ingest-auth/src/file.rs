//! `authType: file`: the users and tokens of an XML file on the server (format in the crate docs), read
//! on every attempt that needs it and parsed again when its content changed, and the directory
//! `fileURL` may be restricted to.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use streamspec_types::Secret;

use crate::users::Entry;

/// The root element of an authorization file.
const ROOT: &str = "ingestAuthorization";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "@version", default)]
    version: Option<String>,
    #[serde(rename = "$value", default)]
    entries: Vec<Element>,
}

#[derive(Deserialize)]
enum Element {
    #[serde(rename = "user")]
    User(User),
    #[serde(rename = "token")]
    Token(Token),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    #[serde(rename = "@username")]
    username: String,
    #[serde(rename = "@password")]
    password: String,
    #[serde(rename = "streamKey", default)]
    stream_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    #[serde(rename = "@value")]
    value: String,
    #[serde(rename = "@expire", default)]
    expire: Option<i64>,
    #[serde(rename = "streamKey", default)]
    stream_keys: Vec<String>,
}

/// Why an authorization file cannot be used. Shown in the server's log, never to a publisher; holds no
/// password or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError(String);

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

/// Parses an authorization file's text.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, FileError> {
    // serde does not see the root element's name; check it, so that another XML file is refused.
    let root = first_element(text)?;
    if root != ROOT {
        return Err(FileError(format!("the root element is <{root}>, not <{ROOT}>")));
    }
    let document: Document = quick_xml::de::from_str(text)
        // quick-xml's messages name elements and attributes, never attribute values.
        .map_err(|error| FileError(format!("not a valid authorization file: {error}")))?;
    if let Some(version) = document.version.filter(|version| version != "1") {
        return Err(FileError(format!("version {version} is not supported; this reader knows 1")));
    }
    document
        .entries
        .into_iter()
        .map(|element| match element {
            Element::User(user) if user.username.is_empty() => Err(empty("<user> username")),
            Element::User(user) => Ok(Entry::Credentials {
                username: user.username,
                password: Secret::new(user.password).map_err(|_| empty("<user> password"))?,
                stream_keys: user.stream_keys,
            }),
            Element::Token(token) => Ok(Entry::Token {
                token: Secret::new(token.value).map_err(|_| empty("<token> value"))?,
                expire: token.expire,
                stream_keys: token.stream_keys,
            }),
        })
        .collect()
}

fn empty(what: &str) -> FileError {
    FileError(format!("a {what} is empty"))
}

fn first_element(text: &str) -> Result<String, FileError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(element) | Event::Empty(element)) => {
                return Ok(AsRef::<str>::as_ref(&element.local_name()).to_owned());
            }
            Ok(Event::Eof) => return Err(FileError("the file has no root element".into())),
            Ok(_) => {}
            Err(error) => {
                return Err(FileError(format!(
                    "not XML at byte {}: {error}",
                    reader.error_position()
                )));
            }
        }
    }
}

/// A file's entries, and the SHA-256 of the text they were parsed from.
type Parsed = ([u8; 32], Arc<Vec<Entry>>);

/// The files read so far, by path.
#[derive(Debug, Default)]
pub(crate) struct FileCache {
    files: Mutex<HashMap<PathBuf, Parsed>>,
}

/// How much of an authorization file is read, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    pub(crate) max_bytes: u64,
    pub(crate) timeout: Duration,
}

/// Reads a regular file of at most `max_bytes`. The file is opened without blocking, so a FIFO or a
/// device cannot hold the reading thread, and its type is checked on the opened file, so it cannot
/// be swapped between the check and the read.
fn read_regular_file(path: &Path, max_bytes: u64) -> Result<String, FileError> {
    let cannot =
        |error: std::io::Error| FileError(format!("cannot read {}: {error}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(FileError(format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError(format!(
            "{} is larger than the limit of {max_bytes} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|_| FileError(format!("{} is not UTF-8 text", path.display())))
}

impl FileCache {
    /// The entries of the file at `path`, as it is now. The file is read on tokio's blocking pool,
    /// within `limits`: a serving thread never waits on the file system.
    pub(crate) async fn entries(
        &self,
        path: &Path,
        limits: ReadLimits,
    ) -> Result<Arc<Vec<Entry>>, FileError> {
        let owned = path.to_owned();
        let read = tokio::task::spawn_blocking(move || read_regular_file(&owned, limits.max_bytes));
        let text = match tokio::time::timeout(limits.timeout, read).await {
            Ok(Ok(read)) => read?,
            Ok(Err(error)) => {
                return Err(FileError(format!("reading {}: {error}", path.display())));
            }
            Err(_) => {
                return Err(FileError(format!(
                    "reading {} took longer than {} ms",
                    path.display(),
                    limits.timeout.as_millis()
                )));
            }
        };
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, entries)) = files.get(path)
            && *known == digest
        {
            return Ok(entries.clone());
        }
        let entries = Arc::new(
            parse(&text).map_err(|error| FileError(format!("{}: {error}", path.display())))?,
        );
        files.insert(path.to_owned(), (digest, entries.clone()));
        Ok(entries)
    }
}

/// A `fileURL` the server does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileUrlError {
    /// Not an absolute path.
    NotAbsolute,
    /// A `..` component: refused outright rather than resolved.
    ParentComponent,
    /// Outside the directory authorization files must be in.
    OutsideRoot {
        /// That directory.
        root: PathBuf,
    },
}

impl fmt::Display for FileUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileUrlError::NotAbsolute => f.write_str("`fileURL` must be an absolute path"),
            FileUrlError::ParentComponent => f.write_str("`fileURL` must not contain `..`"),
            FileUrlError::OutsideRoot { root } => {
                write!(f, "`fileURL` must be a file under {}", root.display())
            }
        }
    }
}

impl std::error::Error for FileUrlError {}

/// Checks `path` against `root` (if any): absolute, no `..`, and under `root` both as written and,
/// when it exists, with symbolic links resolved.
pub(crate) fn check_path(root: Option<&Path>, path: &Path) -> Result<(), FileUrlError> {
    if !path.is_absolute() {
        return Err(FileUrlError::NotAbsolute);
    }
    if path.components().any(|component| component == Component::ParentDir) {
        return Err(FileUrlError::ParentComponent);
    }
    let Some(root) = root else {
        return Ok(());
    };
    let outside = || FileUrlError::OutsideRoot { root: root.to_owned() };
    if !path.starts_with(root) {
        return Err(outside());
    }
    // A symbolic link inside the root may point out of it.
    if let (Ok(real_path), Ok(real_root)) = (path.canonicalize(), root.canonicalize())
        && !real_path.starts_with(real_root)
    {
        return Err(outside());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/publish_keys.xml");

    #[test]
    fn the_documented_example_parses() {
        let entries = parse(EXAMPLE).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(
            entries[1],
            Entry::Credentials {
                username: "guest".into(),
                password: Secret::new("guest-password").unwrap(),
                stream_keys: vec!["lobby".into(), "backstage".into()],
            }
        );
        assert_eq!(
            entries[3],
            Entry::Token {
                token: Secret::new("a0f3c9e1-expired").unwrap(),
                expire: Some(1_735_689_600_000),
                stream_keys: vec![],
            }
        );
    }

    #[test]
    fn entities_are_decoded() {
        let entries =
            parse(r#"<ingestAuthorization><user username="a&amp;b" password="&lt;pw&gt;"/></ingestAuthorization>"#)
                .unwrap();
        assert_eq!(
            entries,
            [Entry::Credentials {
                username: "a&b".into(),
                password: Secret::new("<pw>").unwrap(),
                stream_keys: vec![]
            }]
        );
    }

    #[test]
    fn malformed_files_are_errors_that_name_the_problem_without_secrets() {
        let cases = [
            ("", "no root element"),
            ("<users/>", "root element is <users>"),
            ("<ingestAuthorization><user username=\"a\" password=\"SECRET\">", "not a valid"),
            ("<ingestAuthorization><admin/></ingestAuthorization>", "not a valid"),
            ("<ingestAuthorization><user username=\"a\"/></ingestAuthorization>", "not a valid"),
            (
                "<ingestAuthorization><user username=\"a\" password=\"SECRET\" role=\"x\"/></ingestAuthorization>",
                "not a valid",
            ),
            (
                "<ingestAuthorization><token value=\"SECRET\" expire=\"soon\"/></ingestAuthorization>",
                "not a valid",
            ),
            (
                "<ingestAuthorization><token value=\"\"/></ingestAuthorization>",
                "<token> value is empty",
            ),
            ("<ingestAuthorization version=\"2\"/>", "version 2"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("SECRET"), "{text}: {error}");
        }
        assert_eq!(parse("<ingestAuthorization/>").unwrap(), []);
    }

    #[test]
    fn paths_are_checked_against_the_root() {
        let root = Path::new("/srv/storm/auth");
        assert_eq!(check_path(Some(root), Path::new("/srv/storm/auth/keys.xml")), Ok(()));
        assert_eq!(check_path(None, Path::new("/anywhere/keys.xml")), Ok(()));
        assert_eq!(check_path(None, Path::new("keys.xml")), Err(FileUrlError::NotAbsolute));
        assert_eq!(
            check_path(Some(root), Path::new("/srv/storm/auth/../../../etc/passwd")),
            Err(FileUrlError::ParentComponent)
        );
        assert_eq!(
            check_path(Some(root), Path::new("/srv/storm/authority.xml")),
            Err(FileUrlError::OutsideRoot { root: root.to_owned() }),
            "a prefix of the name is not the directory"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_root_is_outside_it() {
        let base = std::env::temp_dir().join(format!("ingest-auth-link-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(base.join("outside.xml"), "<ingestAuthorization/>").unwrap();
        let link = root.join("link.xml");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(base.join("outside.xml"), &link).unwrap();
        assert!(matches!(check_path(Some(&root), &link), Err(FileUrlError::OutsideRoot { .. })));
        std::fs::remove_dir_all(&base).unwrap();
    }
}

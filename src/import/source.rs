//! Reading an export from disk: a bare WhatsApp `.txt`, a zip (WhatsApp or Telegram), a
//! Telegram `result.json` or its folder; and finding the media files it refers to.
//!
//! Zip entries are checked before anything is read: a name with `..` or an absolute path is
//! refused, and every read is capped, whatever size the archive claims.

use std::{
    collections::BTreeMap,
    fs::File,
    io::Read,
    path::{Component, Path, PathBuf},
};

use unicode_normalization::UnicodeNormalization;
use zip::ZipArchive;

use super::{Export, ImportError, err, telegram, whatsapp};

/// Largest transcript or `result.json` read.
pub const MAX_TRANSCRIPT: u64 = 512 * 1024 * 1024;
/// Most entries accepted in a zip.
pub const MAX_ENTRIES: usize = 200_000;

/// Localised prefixes of WhatsApp export file names (reference 1.1), most specific first.
const NAME_PREFIXES: &[&str] = &[
    "WhatsApp Chat - ",
    "WhatsApp Chat with ",
    "Chat de WhatsApp con ",
    "Чат WhatsApp с ",
    "Chat WhatsApp con ",
    "Conversa no WhatsApp com ",
    "Conversa do WhatsApp com ",
    "WhatsApp Chat mit ",
    "Discussion WhatsApp avec ",
];

/// An export and where its media files are.
pub struct Loaded {
    /// The parsed export.
    pub export: Export,
    /// The export's files.
    pub media: MediaStore,
    /// The file or folder read, for the room topic and the report.
    pub origin: String,
}

/// Where an export's media files can be read from.
pub enum MediaStore {
    /// Files next to the transcript, relative to this folder.
    Dir(PathBuf),
    /// Entries of a zip: NFC name (relative to the export's folder, and bare file name) →
    /// entry name.
    Zip {
        /// The open archive.
        archive: Box<ZipArchive<File>>,
        /// Lookup table.
        index: BTreeMap<String, String>,
    },
}

impl MediaStore {
    /// Reads the file an export names, at most `limit` bytes. `Ok(None)` if it is not there.
    pub fn read(&mut self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, ImportError> {
        if !is_safe_relative(name) {
            return err(format!(
                "the export names the file {name:?}, which points outside the export; refusing to read it"
            ));
        }
        match self {
            Self::Dir(base) => {
                let path = base.join(name);
                let path = if path.is_file() {
                    path
                } else {
                    match find_nfc(&path) {
                        Some(p) => p,
                        None => return Ok(None),
                    }
                };
                let file = File::open(&path)
                    .map_err(|e| ImportError(format!("{}: cannot read: {e}", path.display())))?;
                read_capped(file, limit, &path.display().to_string()).map(Some)
            }
            Self::Zip { archive, index } => {
                let nfc: String = name.nfc().collect();
                let base = nfc.rsplit('/').next().unwrap_or(&nfc).to_owned();
                let Some(entry) = index.get(&nfc).or_else(|| index.get(&base)).cloned() else {
                    return Ok(None);
                };
                let file = archive
                    .by_name(&entry)
                    .map_err(|e| ImportError(format!("zip entry {entry}: cannot read: {e}")))?;
                read_capped(file, limit, &format!("zip entry {entry}")).map(Some)
            }
        }
    }
}

/// Reads a WhatsApp export: a `.txt` transcript or a zip holding one.
pub fn load_whatsapp(path: &Path, opts: &whatsapp::Options) -> Result<Loaded, ImportError> {
    let shown = path.display().to_string();
    let mut opts = opts.clone();
    if is_zip(path)? {
        let mut archive = open_zip(path)?;
        let names = entry_names(&mut archive, &shown)?;
        let Some(transcript) = pick_transcript(&names) else {
            return err(format!(
                "{shown}: no chat transcript in this zip (looked for _chat.txt, then \"WhatsApp Chat….txt\", then any *chat*.txt); is it a WhatsApp export?"
            ));
        };
        let bytes = read_entry(&mut archive, &transcript, &shown)?;
        if opts.chat_name.is_none() {
            opts.chat_name = chat_name_from(&transcript).or_else(|| chat_name_from(&shown));
        }
        let label = format!("{shown}: {transcript}");
        let text = utf8(bytes, &label)?;
        let export = whatsapp::parse(&text, &label, &opts)?;
        let index = zip_index(&names, "");
        return Ok(Loaded {
            export,
            media: MediaStore::Zip {
                archive: Box::new(archive),
                index,
            },
            origin: file_name(path),
        });
    }
    let file = File::open(path).map_err(|e| ImportError(format!("{shown}: cannot open: {e}")))?;
    let text = utf8(read_capped(file, MAX_TRANSCRIPT, &shown)?, &shown)?;
    if opts.chat_name.is_none() {
        opts.chat_name = chat_name_from(&shown);
    }
    let export = whatsapp::parse(&text, &shown, &opts)?;
    Ok(Loaded {
        export,
        media: MediaStore::Dir(parent(path)),
        origin: file_name(path),
    })
}

/// Reads a Telegram export: `result.json`, the folder holding it, or a zip of that folder.
pub fn load_telegram(path: &Path, opts: &telegram::Options) -> Result<Loaded, ImportError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        let json = path.join("result.json");
        if !json.is_file() {
            return err(format!(
                "{shown}: no result.json in this folder; give the folder Telegram Desktop wrote (ChatExport_…), exported as JSON"
            ));
        }
        let mut loaded = load_telegram(&json, opts)?;
        loaded.origin = file_name(path);
        return Ok(loaded);
    }
    if is_zip(path)? {
        let mut archive = open_zip(path)?;
        let names = entry_names(&mut archive, &shown)?;
        let Some(json) = names
            .iter()
            .filter(|n| n.rsplit('/').next() == Some("result.json"))
            .min_by_key(|n| n.len())
            .cloned()
        else {
            return err(format!(
                "{shown}: no result.json in this zip; export the chat from Telegram Desktop as JSON"
            ));
        };
        let bytes = read_entry(&mut archive, &json, &shown)?;
        let export = telegram::parse(&bytes, &format!("{shown}: {json}"), opts)?;
        let base = json
            .strip_suffix("result.json")
            .unwrap_or_default()
            .to_owned();
        let index = zip_index(&names, &base);
        return Ok(Loaded {
            export,
            media: MediaStore::Zip {
                archive: Box::new(archive),
                index,
            },
            origin: file_name(path),
        });
    }
    let file = File::open(path).map_err(|e| ImportError(format!("{shown}: cannot open: {e}")))?;
    let bytes = read_capped(file, MAX_TRANSCRIPT, &shown)?;
    let export = telegram::parse(&bytes, &shown, opts)?;
    Ok(Loaded {
        export,
        media: MediaStore::Dir(parent(path)),
        origin: file_name(path),
    })
}

/// The chat's name from an export's file name (`WhatsApp Chat - Trip.zip` → `Trip`).
pub fn chat_name_from(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name
        .strip_suffix(".zip")
        .or_else(|| name.strip_suffix(".txt"))
        .unwrap_or(name);
    NAME_PREFIXES.iter().find_map(|prefix| {
        let underscored = prefix.replace(' ', "_");
        stem.strip_prefix(prefix)
            .or_else(|| stem.strip_prefix(underscored.as_str()))
            .filter(|rest| !rest.trim().is_empty())
            .map(|rest| rest.trim().to_owned())
    })
}

/// The transcript in a WhatsApp zip: `_chat.txt`, else a `WhatsApp Chat…` name, else
/// `*chat*.txt`, else the only `.txt`.
fn pick_transcript(names: &[String]) -> Option<String> {
    let txt: Vec<&String> = names.iter().filter(|n| n.ends_with(".txt")).collect();
    let base = |n: &str| n.rsplit('/').next().unwrap_or(n).to_owned();
    txt.iter()
        .find(|n| base(n) == "_chat.txt")
        .or_else(|| txt.iter().find(|n| chat_name_from(&base(n)).is_some()))
        .or_else(|| {
            txt.iter().find(|n| {
                let b = base(n).to_lowercase();
                b.contains("chat") || b.contains("whatsapp")
            })
        })
        .or_else(|| (txt.len() == 1).then(|| &txt[0]))
        .map(|n| (*n).clone())
}

fn is_zip(path: &Path) -> Result<bool, ImportError> {
    if path.is_dir() {
        return Ok(false);
    }
    let mut magic = [0u8; 4];
    let mut file = File::open(path)
        .map_err(|e| ImportError(format!("{}: cannot open: {e}", path.display())))?;
    let n = file
        .read(&mut magic)
        .map_err(|e| ImportError(format!("{}: cannot read: {e}", path.display())))?;
    Ok(n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

fn open_zip(path: &Path) -> Result<ZipArchive<File>, ImportError> {
    let file = File::open(path)
        .map_err(|e| ImportError(format!("{}: cannot open: {e}", path.display())))?;
    ZipArchive::new(file).map_err(|e| {
        ImportError(format!(
            "{}: not a readable zip ({e}); export the chat again or unzip it and give the folder",
            path.display()
        ))
    })
}

/// The bytes of the transcript entry `name` of the zip `shown`, capped like a transcript file.
fn read_entry(
    archive: &mut ZipArchive<File>,
    name: &str,
    shown: &str,
) -> Result<Vec<u8>, ImportError> {
    let file = archive
        .by_name(name)
        .map_err(|e| ImportError(format!("{shown}: {name}: cannot read: {e}")))?;
    read_capped(file, MAX_TRANSCRIPT, &format!("{shown}: {name}"))
}

/// Every entry name, refusing archives with unsafe names or too many entries.
fn entry_names(archive: &mut ZipArchive<File>, shown: &str) -> Result<Vec<String>, ImportError> {
    if archive.len() > MAX_ENTRIES {
        return err(format!(
            "{shown}: {} entries, over the {MAX_ENTRIES} accepted; this is not a chat export",
            archive.len()
        ));
    }
    let names = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| ImportError(format!("{shown}: unreadable entry name ({e})")))?;
    if let Some(bad) = names.iter().find(|n| !is_safe_relative(n)) {
        return err(format!(
            "{shown}: the zip entry {bad:?} points outside the archive; refusing this zip"
        ));
    }
    Ok(names)
}

/// NFC names of a zip's files under `base`, both with their path below `base` and bare.
fn zip_index(names: &[String], base: &str) -> BTreeMap<String, String> {
    let mut index = BTreeMap::new();
    for n in names.iter().filter(|n| !n.ends_with('/')) {
        let nfc: String = n.nfc().collect();
        if let Some(rel) = nfc.strip_prefix(base) {
            index.insert(rel.to_owned(), n.clone());
        }
        let bare = nfc.rsplit('/').next().unwrap_or(&nfc).to_owned();
        index.entry(bare).or_insert_with(|| n.clone());
    }
    index
}

/// A relative path with no `..`, root or drive component.
fn is_safe_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Looks for `path` among its folder's entries, comparing NFC forms.
fn find_nfc(path: &Path) -> Option<PathBuf> {
    let want: String = path.file_name()?.to_str()?.nfc().collect();
    std::fs::read_dir(path.parent()?)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.nfc().collect::<String>() == want)
        })
}

fn read_capped(reader: impl Read, limit: u64, shown: &str) -> Result<Vec<u8>, ImportError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ImportError(format!("{shown}: cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return err(format!(
            "{shown}: larger than {limit} bytes once uncompressed; refusing it"
        ));
    }
    Ok(bytes)
}

fn utf8(bytes: Vec<u8>, shown: &str) -> Result<String, ImportError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        ImportError(format!(
            "{shown}:{line}: not UTF-8 text; WhatsApp writes UTF-8, so give the file as exported (not re-saved in another encoding)"
        ))
    })
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests;

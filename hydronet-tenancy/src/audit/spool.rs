//! A local file of the events an [`AuditWriter`](super::AuditWriter) has accepted but not
//! yet written, so that a process that dies with a full queue loses nothing.
//!
//! Each process appends to its own file in a spool folder and holds an exclusive lock on
//! it while it runs. The file is emptied whenever everything accepted has been written.
//! A process that starts finds the files of processes that are gone (no lock held), takes
//! their events, and deletes the files; the events already in the database are skipped,
//! so a crash between a write and the emptying of the file duplicates nothing. Lines that
//! cannot be read back (a write cut short by the crash) are counted as lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::AuditEvent;

/// This process's spool file.
#[derive(Debug)]
pub(super) struct Spool {
    file: File,
    path: PathBuf,
    empty: bool,
}

/// What [`Spool::open`] took over from processes that are gone.
#[derive(Debug, Default)]
pub(super) struct Orphans {
    /// Their events, possibly some already written.
    pub(super) events: Vec<AuditEvent>,
    /// Lines that could not be read back.
    pub(super) unreadable: u64,
}

impl Spool {
    /// Opens a new spool file in `dir` (created if needed) and takes over the files there
    /// that no running process holds.
    pub(super) fn open(dir: &Path) -> io::Result<(Spool, Orphans)> {
        fs::create_dir_all(dir)?;
        let orphans = adopt(dir)?;

        let path = dir.join(format!("{}.jsonl", uuid::Uuid::now_v7().simple()));
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)?;
        file.try_lock()
            .map_err(|err| io::Error::other(err.to_string()))?;
        Ok((
            Spool {
                file,
                path,
                empty: true,
            },
            orphans,
        ))
    }

    /// `event` as a spool line.
    pub(super) fn line(event: &AuditEvent) -> io::Result<Vec<u8>> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Appends a [`line`](Self::line); its event survives this process dying from now on.
    pub(super) fn append(&mut self, line: &[u8]) -> io::Result<()> {
        self.file.write_all(line)?;
        self.empty = false;
        Ok(())
    }

    /// Empties the file: everything in it has been written.
    pub(super) fn clear(&mut self) -> io::Result<()> {
        if self.empty {
            return Ok(());
        }
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.empty = true;
        Ok(())
    }

    /// The file's path.
    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // A clean stop leaves nothing behind; a file with events stays for the next start.
        if self.empty {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Reads and removes the spool files in `dir` that no live process holds.
fn adopt(dir: &Path) -> io::Result<Orphans> {
    let mut orphans = Orphans::default();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // another running process owns it
        }
        read_into(&file, &mut orphans)?;
        fs::remove_file(&path)?;
    }
    Ok(orphans)
}

fn read_into(file: &File, orphans: &mut Orphans) -> io::Result<()> {
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<AuditEvent>(&line) {
            Ok(event) => orphans.events.push(event),
            Err(_) => orphans.unreadable += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hydronet_core::TenantId;

    use super::*;
    use crate::audit::Actor;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("hn-spool-{}", uuid::Uuid::now_v7().simple()))
    }

    #[test]
    fn files_of_stopped_processes_are_adopted_and_removed() {
        let dir = dir();
        std::fs::create_dir_all(&dir).unwrap();
        let event = AuditEvent::new(TenantId::new(), Actor::System, "test.orphan");
        let mut text = serde_json::to_string(&event).unwrap();
        text.push_str("\n{\"cut short\n\n");
        std::fs::write(dir.join("dead.jsonl"), text).unwrap();

        let (spool, orphans) = Spool::open(&dir).unwrap();
        assert_eq!(orphans.events, vec![event]);
        assert_eq!(orphans.unreadable, 1);
        assert!(!dir.join("dead.jsonl").exists());
        drop(spool);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "a clean stop leaves no file"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_live_processes_file_is_left_alone_and_clear_empties_it() {
        let dir = dir();
        let (mut live, _) = Spool::open(&dir).unwrap();
        let event = AuditEvent::new(TenantId::new(), Actor::System, "test.live");
        live.append(&Spool::line(&event).unwrap()).unwrap();

        let (_other, orphans) = Spool::open(&dir).unwrap();
        assert!(orphans.events.is_empty());
        assert!(live.path().exists());

        live.clear().unwrap();
        assert_eq!(std::fs::metadata(live.path()).unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}

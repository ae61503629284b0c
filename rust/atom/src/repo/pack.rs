//! Writing copied objects into one pack with its index (git's pack format 2 and index format 2,
//! without deltas) instead of one loose file per object: a fetch writes two files rather than
//! tens of thousands, and reading an object later maps no file of its own.
//!
//! The pack is written under a temporary name and renamed into place before its index, so a
//! reader never sees a pack without all its objects; an interrupted write leaves only a
//! temporary file that nothing reads.

use std::fs;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gix::zlib::stream::deflate::{Compress, FlushCompress};
use gix::ObjectId;

use super::error::Source;
use super::{RepoError, Result};

/// A pack being written into `<objects>/pack`.
pub(super) struct PackWriter {
    dir: PathBuf,
    tmp: PathBuf,
    out: BufWriter<fs::File>,
    /// Each object's id, the CRC-32 of its entry, and the entry's offset in the pack.
    entries: Vec<(ObjectId, u32, u64)>,
    offset: u64,
    /// One compressor for every entry: setting one up costs more than compressing a small object.
    compress: Compress,
}

const HEADER_LEN: u64 = 12;

impl PackWriter {
    /// Starts a pack in the repository whose object directory is `objects`.
    pub(super) fn new(objects: &Path) -> Result<PackWriter> {
        let dir = objects.join("pack");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = dir.join(super::temporary_name("pack"));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let mut out = BufWriter::new(file);
        // The object count is filled in by `finish`.
        out.write_all(b"PACK\0\0\0\x02\0\0\0\0").map_err(io(&tmp))?;
        Ok(PackWriter {
            dir,
            tmp,
            out,
            entries: Vec::new(),
            offset: HEADER_LEN,
            compress: Compress::new(gix::zlib::Compression::BEST_SPEED),
        })
    }

    /// Adds an object whose `data` the caller has checked to hash to `id`.
    pub(super) fn add(&mut self, id: ObjectId, kind: gix::object::Kind, data: &[u8]) -> Result<()> {
        let type_bits: u8 = match kind {
            gix::object::Kind::Commit => 1,
            gix::object::Kind::Tree => 2,
            gix::object::Kind::Blob => 3,
            gix::object::Kind::Tag => 4,
        };
        // Header: type and size, 4 bits of size in the first byte, then 7 per byte.
        let mut entry = Vec::with_capacity(data.len() / 2 + 16);
        let mut size = data.len() as u64;
        let mut byte = (type_bits << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            entry.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        entry.push(byte);
        self.deflate(data, &mut entry)
            .map_err(|e| RepoError::object(id, e))?;
        self.out.write_all(&entry).map_err(io(&self.tmp))?;
        self.entries.push((id, crc32(&entry), self.offset));
        self.offset += entry.len() as u64;
        Ok(())
    }

    /// Appends the zlib stream of `data` to `out`.
    fn deflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), Source> {
        let compress = &mut self.compress;
        compress.reset();
        let mut input = data;
        loop {
            let start = out.len();
            out.resize(start + input.len() + 1024, 0);
            let (read, written) = (compress.total_in(), compress.total_out());
            let status = compress
                .compress(input, &mut out[start..], FlushCompress::Finish)
                .map_err(Source::from)?;
            out.truncate(start + (compress.total_out() - written) as usize);
            input = &input[(compress.total_in() - read) as usize..];
            if matches!(status, gix::zlib::Status::StreamEnd) {
                return Ok(());
            }
        }
    }

    /// Completes the pack and its index and puts them in place; returns how many objects it
    /// holds (an empty pack is discarded).
    pub(super) fn finish(mut self) -> Result<usize> {
        let count = self.entries.len();
        self.write_out().map(|()| count)
    }

    fn write_out(&mut self) -> Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let tmp = self.tmp.clone();
        let count = u32::try_from(self.entries.len()).map_err(|_| RepoError::PackTooLarge)?;
        self.out.flush().map_err(io(&tmp))?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(8)).map_err(io(&tmp))?;
        file.write_all(&count.to_be_bytes()).map_err(io(&tmp))?;
        file.seek(SeekFrom::Start(0)).map_err(io(&tmp))?;

        // The pack's checksum: SHA-1 of everything before it.
        let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io(&tmp))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let checksum = hasher.try_finalize().map_err(|e| RepoError::PackHash {
            what: "pack",
            source: e.into(),
        })?;
        file.seek(SeekFrom::End(0)).map_err(io(&tmp))?;
        file.write_all(checksum.as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;

        let name = format!("pack-{checksum}");
        let pack = self.dir.join(format!("{name}.pack"));
        let index = self.dir.join(format!("{name}.idx"));
        // A pack's name is the checksum of its content: one already in place with its index holds
        // exactly these objects (another process fetched the same ones at the same time).
        if pack.is_file() && index.is_file() {
            return Ok(());
        }
        let index_tmp = self.dir.join(super::temporary_name(&format!("{name}.idx")));
        let index_bytes = self.index(&checksum)?;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&index_tmp)
            .and_then(|mut file| file.write_all(&index_bytes))
            .map_err(io(&index_tmp))?;
        // The pack first: an index is what makes a pack visible. Renaming over an identical pack
        // or index (same name, same content) changes nothing for readers that have it open.
        let placed = fs::rename(&tmp, &pack)
            .map_err(io(&pack))
            .and_then(|()| fs::rename(&index_tmp, &index).map_err(io(&index)));
        if placed.is_err() {
            let _ = fs::remove_file(&index_tmp);
        }
        placed
    }

    /// The index (format 2) of the pack whose checksum is `checksum`.
    fn index(&mut self, checksum: &ObjectId) -> Result<Vec<u8>> {
        self.entries.sort_by_key(|entry| entry.0);
        let mut out = Vec::with_capacity(8 + 1024 + self.entries.len() * 28 + 40);
        out.extend_from_slice(b"\xfftOc\0\0\0\x02");
        let mut fanout = [0u32; 256];
        for (id, _, _) in &self.entries {
            fanout[id.as_bytes()[0] as usize] += 1;
        }
        let mut total = 0;
        for count in fanout {
            total += count;
            out.extend_from_slice(&total.to_be_bytes());
        }
        for (id, _, _) in &self.entries {
            out.extend_from_slice(id.as_bytes());
        }
        for (_, crc, _) in &self.entries {
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut large = Vec::new();
        for (_, _, offset) in &self.entries {
            if *offset < 0x8000_0000 {
                out.extend_from_slice(&(*offset as u32).to_be_bytes());
            } else {
                out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
                large.push(*offset);
            }
        }
        for offset in large {
            out.extend_from_slice(&offset.to_be_bytes());
        }
        out.extend_from_slice(checksum.as_bytes());
        let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
        hasher.update(&out);
        let own = hasher.try_finalize().map_err(|e| RepoError::PackHash {
            what: "pack index",
            source: e.into(),
        })?;
        out.extend_from_slice(own.as_bytes());
        Ok(out)
    }
}

impl Drop for PackWriter {
    /// An unfinished (or empty) pack leaves nothing behind.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RepoError {
    let path = path.to_owned();
    move |source| RepoError::Io { path, source }
}

/// CRC-32 (IEEE, as zlib computes it), which pack indexes record for each entry.
fn crc32(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    }
    const TABLE: [u32; 256] = table();
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_is_zlib_s() {
        assert_eq!(super::crc32(b""), 0);
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}

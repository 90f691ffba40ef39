//! A layer written as a tar on one thread and stored by `layer_in` on this one, through a
//! pipe: the tar is never whole in memory or on disk.

use crate::builder::error::BuildError;
use berth_image::layer_in::{Expected, MadeLayers, StoredLayer, store_layer};
use berth_image::store::Store;
use std::io::{self, Read, Write};

/// Stores what `write` writes (a whole tar) as a layer on top of `parent`.
pub fn store_tar(
    store: &Store,
    parent: Option<&StoredLayer>,
    made: MadeLayers,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send,
) -> Result<StoredLayer, BuildError> {
    let (mut reader, mut writer) =
        io::pipe().map_err(|e| BuildError::failed("make a pipe for the layer", e))?;
    std::thread::scope(|scope| {
        let written = scope.spawn(move || {
            let result = write(&mut writer).and_then(|()| writer.flush());
            drop(writer);
            result
        });
        let stored = store_layer(
            store,
            &mut reader,
            &Expected::default(),
            made.keep(),
            parent.map(|l| &l.chain_id),
            made.max_size,
        );
        // The writer must never meet a closed pipe (SIGPIPE ends berth): read it to its end.
        let _ = io::copy(&mut reader.by_ref(), &mut io::sink());
        let written = written
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the layer's writer panicked")));
        match (written, stored) {
            (Err(e), _) => Err(BuildError::failed("write the layer", e)),
            (Ok(()), Err(e)) => Err(BuildError::failed("store the layer", e)),
            (Ok(()), Ok(layer)) => Ok(layer),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::layer_in::Compression;

    #[test]
    fn a_streamed_tar_becomes_a_stored_layer_and_a_writers_error_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let made = MadeLayers {
            max_size: 1 << 30,
            compression: Compression::Gzip,
        };
        let big = vec![7u8; 3 << 20];
        let layer = store_tar(&store, None, made, |out| {
            let mut tar = tar::Builder::new(out);
            let mut header = tar::Header::new_gnu();
            header.set_size(big.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, "big", &big[..])?;
            tar.finish()
        })
        .unwrap();
        assert_eq!(layer.received.size, big.len() as u64);
        let data = std::fs::read(store.layer_dir(&layer.chain_id).join("diff/big")).unwrap();
        assert_eq!(data.len(), big.len());
        let failed = store_tar(&store, None, made, |out| {
            out.write_all(&[0; 1024])?;
            Err(io::Error::other("disk gone"))
        });
        assert!(matches!(failed, Err(BuildError::Failed(m)) if m.contains("disk gone")));
    }
}

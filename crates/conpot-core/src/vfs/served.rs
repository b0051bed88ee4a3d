//! What every session of a file-serving protocol (FTP, TFTP) shares: its settings, its
//! device, and the device's filesystem seen from the directory the settings name. Built
//! once per service, so each protocol only says how its settings are read.

use super::{VfsError, View};
use crate::Device;
use crate::template::{ProtocolSection, TemplateError};

/// Settings that name the directory a protocol serves (its jail).
pub trait Rooted {
    /// The directory, as a path of the device's filesystem.
    fn root(&self) -> &str;
}

/// A file service's shared state.
#[derive(Debug)]
pub struct Served<C> {
    /// The settings.
    pub config: C,
    /// The device (accounts, files, persona).
    pub device: Device,
    /// The filesystem seen from the configured root.
    pub view: View,
}

impl<C: Rooted> Served<C> {
    /// The state of the service of template `section`: a root that is not a directory
    /// of the device's filesystem is the template error naming `protocols.<name>.root`.
    pub fn from_section(config: C, section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let view = device.vfs.section_view(section, config.root())?;
        Ok(Served {
            config,
            device: device.clone(),
            view,
        })
    }

    /// The state of a service configured in code (tests, benchmarks).
    pub fn at_root(config: C, device: &Device) -> Result<Self, VfsError> {
        let view = device.vfs.view(config.root())?;
        Ok(Served {
            config,
            device: device.clone(),
            view,
        })
    }
}

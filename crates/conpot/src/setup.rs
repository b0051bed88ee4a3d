//! Loading what a run needs: configuration, template, persona, device and services.

use std::path::Path;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::config::Config;
use conpot_core::persona::Persona;
use conpot_core::rng::Rng;
use conpot_core::template::{ProtocolSection, Template, TemplateError};

use crate::embedded;
use crate::registry::{self, Service};

/// Formats template errors one per line.
pub fn format_errors(errs: &[TemplateError]) -> String {
    errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

/// Loads the configuration from `-c`, or the embedded default.
pub fn load_config(path: Option<&Path>, force: bool) -> Result<Config, String> {
    let config = match path {
        Some(p) if !force => Config::load(p).map_err(|e| format!("configuration errors:\n{}", format_errors(&e)))?,
        _ => Config::from_toml("<embedded default config>", embedded::DEFAULT_CONFIG)
            .map_err(|e| format!("embedded configuration errors:\n{}", format_errors(&e)))?,
    };
    // The sinks' keys belong to conpot-sinks: check them now, so a mistake stops the start
    // before any socket is bound.
    conpot_sinks::parse_all(&config.sinks).map_err(|e| format!("configuration errors:\n{}", format_errors(&e)))?;
    Ok(config)
}

/// Loads the template named or located by `arg` (a folder, else an embedded name).
pub fn load_template(arg: Option<&str>) -> Result<Template, String> {
    let arg = arg.unwrap_or("default");
    let dir = Path::new(arg);
    let loaded = if dir.is_dir() {
        Template::load_dir(dir)
    } else if let Some(src) = embedded::template(arg) {
        Template::load(arg, src)
    } else {
        let names: Vec<&str> = embedded::TEMPLATES.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "template `{arg}` not found: give a folder holding template.toml or template.xml, or one of: {}",
            names.join(", ")
        ));
    };
    loaded.map_err(|e| format!("template errors:\n{}", format_errors(&e)))
}

/// Checks that each of `names` (port overrides, from `origin`: `--port` or the
/// configuration) names a protocol of `template`, so a typo such as `s7=102` is an error
/// listing the names that would work rather than an override silently ignored.
pub fn check_port_names<'a>(
    template: &Template,
    names: impl IntoIterator<Item = &'a str>,
    origin: &str,
) -> Result<(), String> {
    // TLS listeners (`https`) are named too.
    let tls: Vec<String> = crate::tls_setup::listeners(template)
        .into_iter()
        .map(|l| l.name)
        .collect();
    let unknown: Vec<&str> = names
        .into_iter()
        .filter(|n| !template.protocols.contains_key(*n) && !tls.iter().any(|t| t == n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let valid: Vec<&str> = template
        .protocols
        .keys()
        .map(String::as_str)
        .chain(tls.iter().map(String::as_str))
        .collect();
    Err(format!(
        "{origin}: template `{}` has no protocol named {}; its protocols are: {}",
        template.name,
        unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
        if valid.is_empty() {
            "none".to_owned()
        } else {
            valid.join(", ")
        }
    ))
}

/// The device and its built services.
pub struct Built {
    /// The device.
    pub device: Device,
    /// Enabled, implemented protocols with their services.
    pub services: Vec<(ProtocolSection, Service)>,
    /// The TLS listeners of enabled sections (issue 13).
    pub tls: Vec<crate::tls_setup::Plan>,
}

/// What of `template` this version serves, in words: `Ok(None)` when every enabled
/// protocol is served, `Ok(Some(warning))` naming the protocols skipped, and `Err` when
/// nothing at all would listen (a honeypot with no listener is not a honeypot). Known from
/// the registry alone, so a run can refuse before it binds or writes anything.
pub fn coverage(template: &Template) -> Result<Option<String>, String> {
    let enabled = || template.protocols.values().filter(|s| s.enabled);
    let served = enabled().filter(|s| registry::transports(&s.name).is_some()).count();
    let skipped: Vec<&str> = enabled()
        .filter(|s| registry::transports(&s.name).is_none())
        .map(|s| s.name.as_str())
        .collect();
    let skipped = skipped.join(", ");
    if served == 0 {
        let disabled: Vec<&str> = template
            .protocols
            .values()
            .filter(|s| !s.enabled)
            .map(|s| s.name.as_str())
            .collect();
        let mut why = if skipped.is_empty() {
            "the template enables no protocol".to_owned()
        } else {
            format!("this version serves none of the template's protocols ({skipped})")
        };
        if !disabled.is_empty() {
            why.push_str(&format!("; disabled in the template: {}", disabled.join(", ")));
        }
        return Err(format!("template `{}` has nothing to serve: {why}", template.name));
    }
    Ok((!skipped.is_empty())
        .then(|| format!("protocols of the template not served by this version, skipped: {skipped}")))
}

/// Builds the device of `template` with `persona` (started for the `boots`-th time) and
/// every enabled protocol's service.
pub fn build(template: &Template, persona: Persona, boots: u32) -> Result<Built, Vec<TemplateError>> {
    let t = std::time::Instant::now();
    let device = Device::build(template, persona, SystemTime::now(), &mut Rng::from_entropy())?;
    tracing::debug!(
        "{}: device in {:.1} ms",
        template.name,
        t.elapsed().as_secs_f64() * 1000.0
    );
    device.databus.insert(
        conpot_core::device::KEY_BOOTS,
        conpot_core::databus::Entry::Value(conpot_core::Value::from(i64::from(boots))),
    );
    let mut errs = Vec::new();
    let mut services = Vec::new();
    let mut tls = Vec::new();
    for section in template.protocols.values() {
        match crate::tls_setup::plan(section, &device) {
            Ok(Some(p)) if section.enabled => tls.push(p),
            Ok(_) => {}
            Err(e) => errs.extend(e),
        }
        let section = &*crate::tls_setup::strip(section);
        let t = std::time::Instant::now();
        let built = registry::build(section, &device, &template.source);
        tracing::debug!(
            "{}: {} in {:.1} ms",
            template.name,
            section.name,
            t.elapsed().as_secs_f64() * 1000.0
        );
        match built {
            Some(Err(e)) => errs.extend(e),
            Some(Ok(svc)) if section.enabled => services.push((section.clone(), svc)),
            // Disabled, or not served by this version (named by `coverage`).
            _ => {}
        }
    }
    if errs.is_empty() {
        Ok(Built { device, services, tls })
    } else {
        Err(errs)
    }
}

//! The `templates` and `template check` commands.

use crate::embedded;
use crate::setup;
use conpot_core::template::Template;

/// Prints the embedded templates; returns the exit code.
pub fn list_templates() -> i32 {
    for (name, files) in embedded::TEMPLATES {
        match Template::load(name, conpot_core::template::FileSource::Embedded(files)) {
            Ok(t) => {
                let protocols: Vec<&str> = t.protocols.keys().map(String::as_str).collect();
                println!("--template {name}");
                println!("    Unit:        {}", t.meta.unit);
                println!("    Vendor:      {}", t.meta.vendor);
                println!("    Description: {}", t.meta.description);
                println!("    Protocols:   {}", protocols.join(", "));
                println!(
                    "    Creator:     {}",
                    if t.meta.creator.is_empty() {
                        "N/A"
                    } else {
                        &t.meta.creator
                    }
                );
            }
            Err(e) => {
                eprintln!("embedded template {name} is broken:\n{}", setup::format_errors(&e));
                return 1;
            }
        }
    }
    0
}

/// Validates a template (folder or embedded name) and prints every error; returns the
/// exit code (0 valid, 1 invalid or with nothing this version serves).
pub fn check_template(path: &str) -> i32 {
    let template = match setup::load_template(Some(path)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let persona = template.persona.generate(&template.name, 0);
    match setup::build(&template, persona, 1) {
        Ok(built) => {
            for w in &template.warnings {
                println!("warning: {w}");
            }
            match setup::coverage(&template) {
                Ok(skipped) => {
                    if let Some(w) = skipped {
                        println!("warning: {w}");
                    }
                    let served: Vec<&str> = built.services.iter().map(|(s, _)| s.name.as_str()).collect();
                    println!("template `{}` is valid (serves: {})", template.name, served.join(", "));
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        Err(errs) => {
            eprintln!(
                "template `{}` has {} error(s):\n{}",
                template.name,
                errs.len(),
                setup::format_errors(&errs)
            );
            1
        }
    }
}

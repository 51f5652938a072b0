//! `login` / `logout`: a registry's credentials in the auth file pull and push read
//! (`berth_image::auth::login_file`, one place for its path and format).

use std::io::{self, BufRead};

use berth::context::{Context, Outcome};
use berth::people_cli::{LoginArgs, LogoutArgs};
use berth_image::auth::{self, Credentials};
use berth_image::PullOptions;

pub fn login(a: LoginArgs, _ctx: &Context) -> Outcome {
    let username = a.username.ok_or("login: give the user name with -u USER")?;
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut line = String::new();
            io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err("login: give the password with -p PASS or --password-stdin".into())
        }
    };
    let creds = Credentials { username, password };
    let opts = PullOptions {
        insecure: a.insecure,
        ..Default::default()
    };
    berth_image::registry::check_login(&a.registry, creds.clone(), &opts)?;
    let file = a.authfile.unwrap_or_else(auth::login_file);
    auth::store(&file, &a.registry, Some(&creds))?;
    berth::outln!("Login Succeeded ({})", file.display());
    Ok(0)
}

pub fn logout(a: LogoutArgs, _ctx: &Context) -> Outcome {
    let file = a.authfile.unwrap_or_else(auth::login_file);
    if !auth::has_entry(&file, &a.registry)? {
        return Err(format!("not logged in to {} (in {})", a.registry, file.display()).into());
    }
    auth::store(&file, &a.registry, None)?;
    berth::outln!("Removed login credentials for {}", a.registry);
    Ok(0)
}

//! The bot's commands, answered in rooms the bot is in (its direct chats).

use crate::config::PermissionLevel;

/// What the bot answers to `text` from a user at `level`, or `None` if it is not a command.
pub(super) fn answer(
    text: &str,
    level: PermissionLevel,
    networks: &[(String, String)],
    bot: &str,
) -> Option<String> {
    let text = text.trim();
    let command = text
        .strip_prefix("!passerelle")
        .map(str::trim)
        .unwrap_or(text);
    let word = command
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match word.as_str() {
        "help" | "aide" => Some(help(level, networks, bot)),
        "" if text.starts_with("!passerelle") => Some(help(level, networks, bot)),
        _ if text.starts_with("!passerelle") => Some(format!(
            "Unknown command `{word}`. Send `help` for the list."
        )),
        _ => None,
    }
}

fn help(level: PermissionLevel, networks: &[(String, String)], bot: &str) -> String {
    let mut out = String::from("passerelle connects this Matrix server to other networks.\n\n");
    if level < PermissionLevel::Relay {
        out.push_str("You are not allowed to use this bridge; ask your administrator.\n");
        return out;
    }
    out.push_str(
        "To talk to someone, invite their ghost user to a room (or start a direct chat with it):\n",
    );
    for (network, example) in networks {
        out.push_str(&format!("  • {network}: {example}\n"));
    }
    out.push_str("Their replies come back to the same room. If a message cannot be delivered, a notice says why.\n");
    out.push_str(&format!(
        "\nCommands, in a room with {bot}:\n  help — this message\n  \
         !passerelle link <network> <address> — link the room with a group chat, \
         e.g. !passerelle link xmpp team@conference.example.org\n"
    ));
    out.push_str(&format!("\nYour permission level: {level}."));
    out
}

#[cfg(test)]
mod tests {
    use super::answer;
    use crate::config::PermissionLevel;

    #[test]
    fn help_lists_networks_and_unknown_commands_are_named() {
        let nets = [("test".to_owned(), "@_test_alice:example.org".to_owned())];
        let help = answer(
            "help",
            PermissionLevel::User,
            &nets,
            "@passerelle:example.org",
        )
        .expect("help");
        assert!(help.contains("@_test_alice:example.org"), "{help}");
        assert!(help.contains("user"), "{help}");
        let blocked = answer(" HELP ", PermissionLevel::Block, &nets, "@p:x").expect("help");
        assert!(blocked.contains("not allowed"), "{blocked}");
        let unknown = answer(
            "!passerelle frobnicate",
            PermissionLevel::User,
            &nets,
            "@p:x",
        )
        .expect("reply");
        assert!(unknown.contains("frobnicate"), "{unknown}");
        assert_eq!(
            answer("hello there", PermissionLevel::User, &nets, "@p:x"),
            None
        );
    }
}

"""The names Jenkins accepts: item names (folders, jobs) and credentials ids.

Checked when the catalog loads, so a name Jenkins would refuse is one line naming the rule
instead of a half-provisioned job set. Each rule follows the source that enforces it.
"""
import re

# core jenkins/model/Jenkins.java checkGoodName: these characters are refused anywhere.
UNSAFE_CHARACTERS = "?*/\\%!@#$^&|<>[]:;"

# credentials-plugin impl/BaseStandardCredentials.java DescriptorImpl.doCheckId: the id of a
# credential made in the UI (the form refuses anything else: "Unacceptable characters").
CREDENTIALS_ID = re.compile(r"[a-zA-Z0-9_.-]+")  # String.matches: the whole id


def _iso_control(char):
    """Java's Character.isISOControl: U+0000-U+001F and U+007F-U+009F."""
    code = ord(char)
    return code <= 0x1F or 0x7F <= code <= 0x9F


def item_name_problem(name):
    """Why Jenkins refuses `name` as an item name, or None when it accepts it.

    The rules of core Jenkins.checkGoodName, in its order: not empty, not "." or "..",
    no ISO control character (C0, DEL, C1), none of UNSAFE_CHARACTERS, no trailing "."
    (SECURITY-2424, on by default). Jenkins also trims the name it is given, so a name with
    surrounding whitespace would not be the name shipway asked for: refused as well.
    """
    if not name:
        return "Jenkins refuses an empty name (Jenkins.checkGoodName)"
    if name.strip() in (".", ".."):
        return f"Jenkins refuses the name {name.strip()!r} (Jenkins.checkGoodName)"
    for char in name:
        if _iso_control(char):
            return (f"Jenkins refuses control characters in names, here U+{ord(char):04X} "
                    "(Jenkins.checkGoodName)")
        if char in UNSAFE_CHARACTERS:
            return (f"Jenkins refuses the character {char!r} in names: none of "
                    f"{UNSAFE_CHARACTERS} (Jenkins.checkGoodName)")
    if name.strip().endswith("."):
        return "Jenkins refuses names ending in '.' (Jenkins.checkGoodName, SECURITY-2424)"
    if name != name.strip():
        return "Jenkins trims spaces around names: remove them"
    return None


def check_folder(value):
    """A folder path "team" or "team/group", each part a name Jenkins accepts.

    Returns the path without leading or trailing "/"; ValueError names the broken rule.
    """
    if not isinstance(value, str):
        raise ValueError("must be a string")  # noqa: TRY004 - the catalog reports ValueErrors
    parts = value.strip("/").split("/")
    for part in parts:
        problem = item_name_problem(part)
        if problem:
            raise ValueError(f"folder part {part!r}: {problem}")
    return "/".join(parts)


def check_credentials_id(value):
    """A Jenkins credentials id as the credentials plugin makes them (ValueError if not)."""
    if not isinstance(value, str) or not CREDENTIALS_ID.fullmatch(value):
        raise ValueError("must be a Jenkins credentials id: letters, digits, '_', '.' and '-' "
                         "(credentials plugin BaseStandardCredentials)")
    return value

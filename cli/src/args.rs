//! Command-line arguments: every subcommand and flag, each flag with a `SEALGATE_*`
//! environment fallback.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  sealgate keygen -o key.txt                      # a new age identity (mode 0600)
  sealgate encrypt --age age1... secrets.yaml > secrets.enc.yaml
  sealgate decrypt secrets.enc.yaml
  sealgate decrypt --extract '[\"db\"][\"password\"]' secrets.enc.yaml
  sealgate edit secrets.enc.yaml                  # opens $EDITOR on the plaintext
  sealgate set secrets.enc.yaml '[\"db\"][\"port\"]' 5432
  kubectl create secret generic db --from-literal=password=s3cret --dry-run=client -o yaml \\
    | sealgate seal --age age1... - > db.sealed.yaml
  sealgate unseal db.sealed.yaml

Identities for decryption are found as sops finds them: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt, and ~/.ssh/id_ed25519 / id_rsa.
Exit codes are listed in the README (they follow sops where the meaning is the same).";

/// Keep Kubernetes secrets in Git safely: a drop-in for the common sops workflow, with
/// sealing of Kubernetes Secrets into EncryptedSecrets.
#[derive(Parser, Debug)]
#[command(name = "sealgate", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Path to a .sops.yaml (skips the search upward from the working directory).
    #[arg(long, global = true, env = "SEALGATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encrypt a file (YAML, JSON, dotenv, INI or any binary file).
    Encrypt(EncryptArgs),
    /// Decrypt a file, or one value of it with --extract.
    Decrypt(DecryptArgs),
    /// Edit the plaintext of an encrypted file in $EDITOR; unchanged values keep their ciphertext.
    Edit(EditArgs),
    /// Set one value (given as JSON) in an encrypted file, in place.
    Set(SetArgs),
    /// Remove one value from an encrypted file, in place.
    Unset(UnsetArgs),
    /// Re-wrap the data key to the recipients .sops.yaml now names; values stay untouched.
    Updatekeys(UpdatekeysArgs),
    /// Generate a new data key and re-encrypt every value with it.
    Rotate(RotateArgs),
    /// Generate an age identity (written with mode 0600) and print its recipient.
    Keygen(KeygenArgs),
    /// Seal Kubernetes Secret manifests into EncryptedSecrets.
    Seal(SealArgs),
    /// Turn EncryptedSecrets back into Secret manifests (for whoever holds a key).
    Unseal(UnsealArgs),
    /// Print a decrypted view of a file, for `git diff` (textconv).
    Diff(DiffArgs),
    /// Three-way merge two edits of one encrypted file (a git merge driver).
    Merge(MergeArgs),
    /// Report whether a file is encrypted, as sops filestatus does.
    Filestatus(FilestatusArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Check the hash chain of audit logs, or search their events.
    Audit(AuditArgs),
    /// Find plaintext secrets before they are committed (a pre-commit hook).
    Check(CheckArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

/// Where the input comes from and where the output goes.
#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// The input file, or - for standard input.
    #[arg(value_name = "FILE")]
    pub file: String,

    /// Write the result back to the input file instead of standard output.
    #[arg(short = 'i', long, env = "SEALGATE_IN_PLACE", conflicts_with = "output")]
    pub in_place: bool,

    /// Write the result to this file (- for standard output).
    #[arg(long, env = "SEALGATE_OUTPUT", value_name = "PATH")]
    pub output: Option<String>,

    /// Format of the input (default: from the file extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,

    /// Format of the output (default: the input format).
    #[arg(long, env = "SEALGATE_OUTPUT_TYPE", value_enum)]
    pub output_type: Option<FileFormat>,

    /// File name used for format detection and .sops.yaml rules when reading standard input.
    #[arg(long, env = "SEALGATE_FILENAME_OVERRIDE", value_name = "NAME")]
    pub filename_override: Option<String>,
}

/// Recipients given on the command line (they replace the keys of the matching rule).
#[derive(Args, Debug, Clone, Default)]
pub struct RecipientArgs {
    /// age recipients (age1…, ssh-ed25519 …, ssh-rsa …), comma-separated.
    #[arg(long, env = "SEALGATE_AGE", value_name = "RECIPIENTS", value_delimiter = ',')]
    pub age: Vec<String>,

    /// Vault/OpenBao transit key URIs (https://vault:8200/v1/transit/keys/NAME), comma-separated.
    #[arg(long, env = "SEALGATE_HC_VAULT_TRANSIT", value_name = "URIS", value_delimiter = ',')]
    pub hc_vault_transit: Vec<String>,

    /// Number of key groups needed to decrypt (Shamir); default: all groups.
    #[arg(long, env = "SEALGATE_SHAMIR_SECRET_SHARING_THRESHOLD", value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// Which values get encrypted (at most one rule; default: all but `*_unencrypted` keys).
#[derive(Args, Debug, Clone, Default)]
#[group(multiple = false)]
pub struct RuleArgs {
    /// Leave keys with this suffix (and everything under them) in clear text.
    #[arg(long, env = "SEALGATE_UNENCRYPTED_SUFFIX", value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only keys with this suffix (and everything under them).
    #[arg(long, env = "SEALGATE_ENCRYPTED_SUFFIX", value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave keys matching this regex in clear text.
    #[arg(long, env = "SEALGATE_UNENCRYPTED_REGEX", value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only keys matching this regex.
    #[arg(long, env = "SEALGATE_ENCRYPTED_REGEX", value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values after a comment matching this regex in clear text.
    #[arg(long, env = "SEALGATE_UNENCRYPTED_COMMENT_REGEX", value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, env = "SEALGATE_ENCRYPTED_COMMENT_REGEX", value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Compute the MAC over encrypted values only (clear values may then change freely).
    #[arg(long, env = "SEALGATE_MAC_ONLY_ENCRYPTED")]
    pub mac_only_encrypted: bool,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    /// Print only the value at this path, e.g. '["db"]["password"]'.
    #[arg(long, env = "SEALGATE_EXTRACT", value_name = "PATH")]
    pub extract: Option<String>,
    /// Decrypt even when the MAC is missing or does not match (recovery only).
    #[arg(long, env = "SEALGATE_IGNORE_MAC")]
    pub ignore_mac: bool,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// The encrypted file (created, encrypted to .sops.yaml's rule, if it does not exist).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Format of the file (default: from the extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,
    #[command(flatten)]
    pub recipients: RecipientArgs,
    /// Open even when the MAC does not match (recovery only).
    #[arg(long, env = "SEALGATE_IGNORE_MAC")]
    pub ignore_mac: bool,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// The encrypted file, changed in place.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to set, e.g. '["db"]["port"]'.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The value as JSON ("text" needs its quotes). Omit with --value-file or --value-stdin.
    #[arg(value_name = "VALUE", required_unless_present_any = ["value_file", "value_stdin"])]
    pub value: Option<String>,
    /// Read the JSON value from this file.
    #[arg(long, env = "SEALGATE_VALUE_FILE", value_name = "PATH", conflicts_with_all = ["value", "value_stdin"])]
    pub value_file: Option<PathBuf>,
    /// Read the JSON value from standard input.
    #[arg(long, env = "SEALGATE_VALUE_STDIN", conflicts_with = "value")]
    pub value_stdin: bool,
    /// Do not rewrite the file when the value is already set.
    #[arg(long, env = "SEALGATE_IDEMPOTENT")]
    pub idempotent: bool,
    /// Format of the file (default: from the extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,
}

#[derive(Args, Debug)]
pub struct UnsetArgs {
    /// The encrypted file, changed in place.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What to remove, e.g. '["db"]["password"]'.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Succeed when the path does not exist.
    #[arg(long, env = "SEALGATE_IDEMPOTENT")]
    pub idempotent: bool,
    /// Format of the file (default: from the extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,
}

#[derive(Args, Debug)]
pub struct UpdatekeysArgs {
    /// Encrypted files to re-wrap.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(short = 'y', long, env = "SEALGATE_YES")]
    pub yes: bool,
    /// Format of the files (default: from each extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub io: IoArgs,
    /// age recipients to add to the first key group, comma-separated.
    #[arg(long, env = "SEALGATE_ADD_AGE", value_delimiter = ',', value_name = "RECIPIENTS")]
    pub add_age: Vec<String>,
    /// age recipients to remove, comma-separated.
    #[arg(long, env = "SEALGATE_RM_AGE", value_delimiter = ',', value_name = "RECIPIENTS")]
    pub rm_age: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the identity to this file (mode 0600) instead of standard output.
    #[arg(short, long, env = "SEALGATE_KEYGEN_OUTPUT", value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Only this namespace and name.
    Strict,
    /// Any name in this namespace.
    Namespace,
    /// Any namespace and name.
    Cluster,
}

#[derive(Args, Debug)]
pub struct SealArgs {
    /// Secret manifests (YAML, multi-document allowed, or JSON); - for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub files: Vec<String>,
    /// Where the sealed Secret may be used.
    #[arg(long, env = "SEALGATE_SCOPE", value_enum, default_value_t = ScopeArg::Strict)]
    pub scope: ScopeArg,
    /// Namespace for Secrets whose manifest has none.
    #[arg(short, long, env = "SEALGATE_NAMESPACE")]
    pub namespace: Option<String>,
    /// age recipients (age1…), comma-separated; default: .sops.yaml's rule for the file.
    #[arg(long, env = "SEALGATE_AGE", value_delimiter = ',', value_name = "RECIPIENTS")]
    pub age: Vec<String>,
    /// A file of recipients, one per line (# comments allowed), as `age -R` reads.
    #[arg(long, env = "SEALGATE_RECIPIENTS_FILE", value_name = "PATH")]
    pub recipients_file: Vec<PathBuf>,
    /// Also seal to the cluster controller's newest recipient, read from its
    /// `sealgate-recipients` ConfigMap through your kubeconfig (no Secret access needed).
    #[arg(long, env = "SEALGATE_FROM_CLUSTER")]
    pub from_cluster: bool,
    /// Namespace of the sealgate controller, for --from-cluster.
    #[arg(
        long,
        env = "SEALGATE_CONTROLLER_NAMESPACE",
        default_value = sealgate::controller::config::DEFAULT_CONTROLLER_NAMESPACE,
        value_name = "NAMESPACE"
    )]
    pub controller_namespace: String,
    /// kubeconfig context for --from-cluster (default: the current context).
    #[arg(long, value_name = "NAME", requires = "from_cluster")]
    pub context: Option<String>,
    /// Write the sealed manifests here instead of standard output.
    #[arg(long, env = "SEALGATE_OUTPUT", value_name = "PATH")]
    pub output: Option<String>,
}

#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// EncryptedSecret manifests; - for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub files: Vec<String>,
    /// Write the Secret manifests here instead of standard output (created with mode 0600).
    #[arg(long, env = "SEALGATE_OUTPUT", value_name = "PATH")]
    pub output: Option<String>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The file git hands to the textconv driver.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The common ancestor (%O).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// Our version (%A); the result is written here.
    #[arg(value_name = "OURS")]
    pub ours: PathBuf,
    /// Their version (%B).
    #[arg(value_name = "THEIRS")]
    pub theirs: PathBuf,
    /// The path of the file in the repository (%P), for .sops.yaml rules and messages.
    #[arg(long, value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Length of the conflict markers (%L; git's default is 7).
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub marker_size: usize,
}

#[derive(Args, Debug)]
pub struct FilestatusArgs {
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Format of the file (default: from the extension).
    #[arg(long, env = "SEALGATE_INPUT_TYPE", value_enum)]
    pub input_type: Option<FileFormat>,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of audit log files, given oldest first (PATH.000001 … PATH), and
    /// name the first broken line.
    Verify(AuditVerifyArgs),
    /// Print the events that match every filter given, as JSON lines or a table.
    Query(AuditQueryArgs),
}

#[derive(Args, Debug)]
pub struct AuditVerifyArgs {
    /// Audit log files, oldest first.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The chain head recorded elsewhere (SEQ:HASH, as the controller publishes it): detects
    /// lines removed or rewritten at the end.
    #[arg(long, env = "SEALGATE_AUDIT_HEAD", value_name = "SEQ:HASH")]
    pub head: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// The matching lines as they are in the log.
    Json,
    /// One aligned row per event.
    Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Success,
    Failure,
    Refused,
}

impl OutcomeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeArg::Success => "success",
            OutcomeArg::Failure => "failure",
            OutcomeArg::Refused => "refused",
        }
    }
}

#[derive(Args, Debug)]
pub struct AuditQueryArgs {
    /// Audit log files.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Only this object: NAMESPACE/NAME (or NAME when cluster-scoped).
    #[arg(long, env = "SEALGATE_AUDIT_OBJECT", value_name = "NS/NAME")]
    pub object: Option<String>,
    /// Only objects of this kind (EncryptedSecret, Secret, …).
    #[arg(long, env = "SEALGATE_AUDIT_KIND", value_name = "KIND")]
    pub kind: Option<String>,
    /// Only this action (unwrap, decrypt, vaultLogin, vaultRead, vaultWrite, secretWrite,
    /// rotation, restart, refusal, keyGenerated, keyRenewed, keyRemoved).
    #[arg(long, env = "SEALGATE_AUDIT_ACTION", value_name = "ACTION",
          value_parser = |s: &str| s.parse::<sealgate::audit::Action>())]
    pub action: Option<sealgate::audit::Action>,
    /// Only this outcome.
    #[arg(long, env = "SEALGATE_AUDIT_OUTCOME", value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, env = "SEALGATE_AUDIT_SINCE", value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, env = "SEALGATE_AUDIT_UNTIL", value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, env = "SEALGATE_AUDIT_FORMAT", value_enum, default_value_t = QueryFormat::Json)]
    pub format: QueryFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One `path:line:col: message [rule]` line per finding.
    Text,
    /// A JSON array of {path, line, column, rule, message}.
    Json,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check (directories are walked, skipping .git, target and
    /// node_modules); default: the current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, env = "SEALGATE_CHECK_FORMAT", value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// The allow-list file (default: the first .sealgate-allow found upward from the working
    /// directory, up to the repository root).
    #[arg(long, env = "SEALGATE_ALLOW_FILE", value_name = "PATH")]
    pub allow_file: Option<PathBuf>,
}

package guard

// RuleInfo describes one built-in rule.
type RuleInfo struct {
	// ID is the stable rule id reported in Decision.Rule.
	ID string
	// Description says what the rule blocks.
	Description string
	// Catastrophic rules cannot be switched off through Policy.
	Catastrophic bool
	// EnabledBy is the mode that switches the rule on; zero means always on.
	EnabledBy Mode
}

// Ids of the built-in rules. Custom rules report "custom:<name>".
const (
	RuleGitSSHOverride        = "git.ssh_override"
	RuleGitAliasConfig        = "git.alias_config"
	RuleGitCheckoutForce      = "git.checkout_force"
	RuleGitCheckoutDiscard    = "git.checkout_discard"
	RuleGitCheckoutRefPath    = "git.checkout_ref_path"
	RuleGitCheckoutPathspec   = "git.checkout_pathspec_file"
	RuleGitCheckoutAmbiguous  = "git.checkout_ambiguous"
	RuleGitSwitchDiscard      = "git.switch_discard"
	RuleGitSwitchForce        = "git.switch_force"
	RuleGitRestoreWorktree    = "git.restore_worktree"
	RuleGitRestore            = "git.restore"
	RuleGitResetHard          = "git.reset_hard"
	RuleGitResetMerge         = "git.reset_merge"
	RuleGitCleanForce         = "git.clean_force"
	RuleGitRmForce            = "git.rm_force"
	RuleGitPushForce          = "git.push_force"
	RuleGitPushDelete         = "git.push_delete"
	RuleGitPushMirror         = "git.push_mirror"
	RuleGitBranchForceDelete  = "git.branch_force_delete"
	RuleGitRebaseAbort        = "git.rebase_abort"
	RuleGitMergeAbort         = "git.merge_abort"
	RuleGitTagDelete          = "git.tag_delete"
	RuleGitReflogDelete       = "git.reflog_delete"
	RuleGitStashDrop          = "git.stash_drop"
	RuleGitStashClear         = "git.stash_clear"
	RuleGitWorktreeRemove     = "git.worktree_remove_force"
	RuleRmRootOrHome          = "rm.root_or_home"
	RuleRmGitMetadata         = "rm.git_metadata"
	RuleRmDynamicTarget       = "rm.dynamic_target"
	RuleRmHomeCwd             = "rm.home_cwd"
	RuleRmCwdSelf             = "rm.cwd_self"
	RuleRmOutsideCwd          = "rm.outside_cwd"
	RuleRmParanoid            = "rm.paranoid"
	RulePSRootOrHome          = "powershell.remove_item_root_or_home"
	RulePSGitMetadata         = "powershell.remove_item_git_metadata"
	RulePSDynamicTarget       = "powershell.remove_item_dynamic_target"
	RulePSHomeCwd             = "powershell.remove_item_home_cwd"
	RulePSCwdSelf             = "powershell.remove_item_cwd_self"
	RulePSOutsideCwd          = "powershell.remove_item_outside_cwd"
	RulePSParanoid            = "powershell.remove_item_paranoid"
	RulePSPipeline            = "powershell.remove_item_pipeline"
	RuleFindDelete            = "find.delete"
	RuleFindGitMetadata       = "find.delete_git_metadata"
	RuleFindExecRm            = "find.exec_rm"
	RuleDdDevice              = "dd.device_write"
	RuleMkfsDevice            = "mkfs.device"
	RuleShred                 = "shred.target"
	RuleInterpreterDangerous  = "interpreter.dangerous"
	RuleInterpreterParanoid   = "interpreter.paranoid"
	RuleAwkSystemDynamic      = "awk.system_dynamic"
	RuleXargsRmDynamic        = "xargs.rm_dynamic"
	RuleXargsShellDynamic     = "xargs.shell_dynamic"
	RuleParallelRmDynamic     = "parallel.rm_dynamic"
	RuleParallelShellDynamic  = "parallel.shell_dynamic"
	RuleParallelCommandStream = "parallel.command_stream"
	RuleDynamicCommandName    = "dynamic.command_name"
	RuleDynamicScript         = "dynamic.script"
	RuleDynamicStructure      = "dynamic.structure"
	RuleRawText               = "raw_text.dangerous"
	RuleSecretDotenv          = "secret.dotenv"
	RuleSecretCredentialFile  = "secret.credential_file"
	RuleSecretSSHKey          = "secret.ssh_key"
	RuleSecretKeyMaterial     = "secret.key_material"
	RuleSecretHomeCredentials = "secret.home_credentials"
	RuleSecretAgentCredential = "secret.agent_credentials"
	RuleSecretAgentConfig     = "secret.agent_config"
	RuleSecretDenyPath        = "secret.deny_path"
	RuleProtectedPath         = "policy.protected_path"
	RuleStrictHeredoc         = "strict.heredoc"
	RuleEngineUnparsable      = "engine.unparsable"
	RuleEngineDepth           = "engine.depth"
	RuleEngineBudget          = "engine.budget"
	RuleEngineTimeout         = "engine.timeout"
	RuleEngineInternal        = "engine.internal_error"
)

// CustomRulePrefix prefixes the rule id of a custom rule: "custom:<name>".
const CustomRulePrefix = "custom:"

// Rule ids of decisions the guard takes outside the engine.
const (
	// RuleInvalidPolicy: a policy or rule file that applies to the command
	// cannot be loaded, so the command cannot be judged as the user asked.
	RuleInvalidPolicy = "guard.invalid_policy"
	// RuleUnavailable: the safety-guard service could not be reached in
	// strict mode, which fails closed.
	RuleUnavailable = "guard.unavailable"
	// RuleInvalidRequest: the request itself is malformed.
	RuleInvalidRequest = "request.invalid"
)

// catalogue is the immutable list of built-in rules.
var catalogue = []RuleInfo{
	{ID: RuleGitSSHOverride, Description: "git network operations with an SSH command override (GIT_SSH, GIT_SSH_COMMAND, core.sshCommand)"},
	{ID: RuleGitAliasConfig, Description: "git aliases or config counts supplied on the command line or environment that cannot be resolved"},
	{ID: RuleGitCheckoutForce, Description: "git checkout --force"},
	{ID: RuleGitCheckoutDiscard, Description: "git checkout -- <path>"},
	{ID: RuleGitCheckoutRefPath, Description: "git checkout <ref> -- <path>"},
	{ID: RuleGitCheckoutPathspec, Description: "git checkout --pathspec-from-file"},
	{ID: RuleGitCheckoutAmbiguous, Description: "git checkout with two or more positional arguments (may overwrite files)"},
	{ID: RuleGitSwitchDiscard, Description: "git switch --discard-changes"},
	{ID: RuleGitSwitchForce, Description: "git switch --force"},
	{ID: RuleGitRestoreWorktree, Description: "git restore --worktree"},
	{ID: RuleGitRestore, Description: "git restore without --staged"},
	{ID: RuleGitResetHard, Description: "git reset --hard"},
	{ID: RuleGitResetMerge, Description: "git reset --merge"},
	{ID: RuleGitCleanForce, Description: "git clean -f without -n/--dry-run"},
	{ID: RuleGitRmForce, Description: "git rm -f without --cached or -n"},
	{ID: RuleGitPushForce, Description: "git push --force or +refspec without --force-with-lease"},
	{ID: RuleGitPushDelete, Description: "git push --delete or :refspec"},
	{ID: RuleGitPushMirror, Description: "git push --mirror"},
	{ID: RuleGitBranchForceDelete, Description: "git branch -D / --delete --force"},
	{ID: RuleGitRebaseAbort, Description: "git rebase --abort"},
	{ID: RuleGitMergeAbort, Description: "git merge --abort"},
	{ID: RuleGitTagDelete, Description: "git tag -d"},
	{ID: RuleGitReflogDelete, Description: "git reflog delete/expire"},
	{ID: RuleGitStashDrop, Description: "git stash drop"},
	{ID: RuleGitStashClear, Description: "git stash clear"},
	{ID: RuleGitWorktreeRemove, Description: "git worktree remove --force"},
	{ID: RuleRmRootOrHome, Description: "rm -rf of /, ~ or $HOME (and find -delete there)", Catastrophic: true},
	{ID: RuleRmGitMetadata, Description: "deleting .git, its hooks or a linked worktree's metadata", Catastrophic: true},
	{ID: RuleRmDynamicTarget, Description: "rm -rf whose target cannot be resolved statically ($VAR, $(...), `...`)"},
	{ID: RuleRmHomeCwd, Description: "rm -rf while the working directory is the home directory"},
	{ID: RuleRmCwdSelf, Description: "rm -rf of the working directory itself"},
	{ID: RuleRmOutsideCwd, Description: "rm -rf outside the working directory (temp directories excepted)"},
	{ID: RuleRmParanoid, Description: "rm -rf of anything but temp directories", EnabledBy: ModeParanoidRm},
	{ID: RulePSRootOrHome, Description: "PowerShell Remove-Item of a drive root or the home directory", Catastrophic: true},
	{ID: RulePSGitMetadata, Description: "PowerShell Remove-Item of .git", Catastrophic: true},
	{ID: RulePSDynamicTarget, Description: "PowerShell recursive Remove-Item with a target that cannot be resolved", EnabledBy: ModeStrict},
	{ID: RulePSHomeCwd, Description: "PowerShell recursive Remove-Item while the working directory is home"},
	{ID: RulePSCwdSelf, Description: "PowerShell recursive Remove-Item of the working directory"},
	{ID: RulePSOutsideCwd, Description: "PowerShell recursive Remove-Item outside the working directory"},
	{ID: RulePSParanoid, Description: "PowerShell recursive Remove-Item of anything but temp directories", EnabledBy: ModeParanoidRm},
	{ID: RulePSPipeline, Description: "PowerShell Remove-Item fed from a pipeline", EnabledBy: ModeStrict},
	{ID: RuleFindDelete, Description: "find -delete outside temp directories"},
	{ID: RuleFindGitMetadata, Description: "find -delete or -exec rm reaching .git", Catastrophic: true},
	{ID: RuleFindExecRm, Description: "find -exec rm -rf"},
	{ID: RuleDdDevice, Description: "dd writing to a /dev device"},
	{ID: RuleMkfsDevice, Description: "mkfs on a /dev device"},
	{ID: RuleShred, Description: "shred"},
	{ID: RuleInterpreterDangerous, Description: "interpreter code that runs a blocked command or deletes files (os.system, shutil.rmtree, fs.rmSync, FileUtils.rm_rf, ...)"},
	{ID: RuleInterpreterParanoid, Description: "any interpreter one-liner", EnabledBy: ModeParanoidInterpreters},
	{ID: RuleAwkSystemDynamic, Description: "awk system(), pipes or getline running a command built at run time"},
	{ID: RuleXargsRmDynamic, Description: "xargs rm -rf with targets from input"},
	{ID: RuleXargsShellDynamic, Description: "xargs running a shell, interpreter or guarded command with input-controlled arguments"},
	{ID: RuleParallelRmDynamic, Description: "parallel rm -rf with targets from input"},
	{ID: RuleParallelShellDynamic, Description: "parallel running a shell, interpreter or guarded command with input-controlled arguments"},
	{ID: RuleParallelCommandStream, Description: "parallel reading whole commands from input or the environment"},
	{ID: RuleDynamicCommandName, Description: "a command name that is not static ($VAR, $(...), globs, quoting tricks)"},
	{ID: RuleDynamicScript, Description: "a shell, eval, source or interpreter fed code the engine cannot see"},
	{ID: RuleDynamicStructure, Description: "options or subcommands of guarded commands built from substitutions", EnabledBy: ModeStrict},
	{ID: RuleRawText, Description: "a destructive command in text the engine can only scan (unparsable input, opaque heredocs, quoted command names)"},
	{ID: RuleSecretDotenv, Description: ".env files and variants (.env.example and samples excepted)"},
	{ID: RuleSecretCredentialFile, Description: "credential files such as .npmrc, .pypirc, .netrc, .git-credentials, credentials"},
	{ID: RuleSecretSSHKey, Description: "private key files such as id_rsa, id_ed25519 and their copies"},
	{ID: RuleSecretKeyMaterial, Description: "key and keystore files by extension (.pem, .key, .p12, .kdbx, ...)"},
	{ID: RuleSecretHomeCredentials, Description: "credential directories in home (~/.ssh, ~/.aws, ~/.kube/config, ~/.docker/config.json, ...)"},
	{ID: RuleSecretAgentCredential, Description: "coding agents' credential stores (~/.claude/.credentials.json, ~/.codex/auth.json, ...)"},
	{ID: RuleSecretAgentConfig, Description: "coding agents' config files that may embed tokens (off unless switched on)"},
	{ID: RuleSecretDenyPath, Description: "paths listed in Policy.SecretDenyPaths"},
	{ID: RuleProtectedPath, Description: "modifying, moving or deleting Policy.ProtectedPaths", Catastrophic: true},
	{ID: RuleStrictHeredoc, Description: "heredocs other than one quoted body fed to a data consumer (cat, tee, git apply/commit, gh pr/issue create)", EnabledBy: ModeStrict},
	{ID: RuleEngineUnparsable, Description: "input that does not parse (strict mode)"},
	{ID: RuleEngineDepth, Description: "nesting of re-parsed scripts deeper than the limit", Catastrophic: true},
	{ID: RuleEngineBudget, Description: "analysis that would exceed the step budget", Catastrophic: true},
	{ID: RuleEngineTimeout, Description: "analysis that would exceed the time budget", Catastrophic: true},
	{ID: RuleEngineInternal, Description: "an internal error of the engine", Catastrophic: true},
}

// Catalogue returns the built-in rules.
func Catalogue() []RuleInfo {
	out := make([]RuleInfo, len(catalogue))
	copy(out, catalogue)
	return out
}

// catalogueIndex maps rule ids to catalogue entries; built once, never mutated.
var catalogueIndex = func() map[string]*RuleInfo {
	m := make(map[string]*RuleInfo, len(catalogue))
	for i := range catalogue {
		m[catalogue[i].ID] = &catalogue[i]
	}
	return m
}()

// LookupRule returns the built-in rule id names.
func LookupRule(id string) (RuleInfo, bool) {
	r, ok := catalogueIndex[id]
	if !ok {
		return RuleInfo{}, false
	}
	return *r, true
}

// IsSecretRule reports whether id belongs to secret protection, which the
// destructive-command master switch does not cover.
func IsSecretRule(id string) bool {
	return len(id) > 7 && id[:7] == "secret."
}

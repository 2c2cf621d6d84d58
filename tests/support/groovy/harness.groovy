// Test harness: Groovy stand-ins for the Jenkins Pipeline DSL, enough to run a rendered
// declarative Jenkinsfile (and the shipway shared library) outside Jenkins.
//
//   groovy harness.groovy RUNS.json RESULTS.json
//
// RUNS.json is a list of runs; each: {script, branch, multibranch, env, credentials, params,
// workdir, scm_vars, library_dirs, job_name, answers, milestones, repository}. RESULTS.json
// receives one record per run: {returncode, result, description, log, sh_commands, stages,
// archived, params, agent, inputs, milestones, cancelled, workspaces, checkouts}.
// Several runs share one JVM because starting it costs about a second.
//
// What is modelled (as Jenkins does it): declarative stages run in order; `when` is evaluated
// before a stage (branch: BRANCH_NAME, else GIT_LOCAL_BRANCH, Ant's own matchPath); a failed
// stage fails the build and skips the stages after it; post conditions run in Jenkins' order.
// `sh` runs the script for real with `/bin/sh -xe` (what Jenkins runs when the script has no
// #! line) in the workdir, with the build environment: env + parameters + withEnv/
// withCredentials overlays. Bound secrets are masked as **** in the log, as Jenkins does.
// Stages may nest, and have their own agent (a node: a workspace of its own; `agent none`:
// no executor), options (timeout), `input` and `when { beforeInput/beforeAgent }`, run in
// Declarative's order. `sh`, stash and file bindings need a node. Time is simulated: an
// input waits for the run's answers (each `after` seconds), and a timeout around it aborts
// the build at its deadline. Milestones follow pipeline-milestone-step against the other
// builds in run.milestones and the events among the answers; an event may also be another
// build's script run for real while an input waits (what a newer build deploys meanwhile).
// Credentials Binding's usernamePassword, string and dockerCert (docker-commons) bindings are
// modelled. The Git plugin's `git` step checks out run.repository (a directory) into the
// workspace.
// A DSL call with no stand-in ends the run with returncode 3 (a harness gap, not a failure).

import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.nio.file.FileSystems
import org.codehaus.groovy.control.CompilerConfiguration

// `@Library('shipway') _` must compile; the library itself comes from run.library_dirs.
@Retention(RetentionPolicy.SOURCE)
@interface Library { String[] value() }

// Jenkins imports com.cloudbees.groovy.cps.NonCPS for every script; here it means nothing.
@Retention(RetentionPolicy.RUNTIME)
@interface NonCPS {}

/** A step failed the way Jenkins' AbortException does: the build fails, the message is logged. */
class StepFailed extends RuntimeException {
    StepFailed(String message) { super(message) }
}

/** A stage failed and was reported: the stages after it are skipped. */
class StageFailed extends RuntimeException {
    StageFailed() { super('stage failed') }
}

/** The script used a DSL element the harness has no stand-in for. */
class NoStandIn extends RuntimeException {
    NoStandIn(String message) { super(message) }
}

/**
 * The build was interrupted as Jenkins' FlowInterruptedException does it: a timeout that
 * expired (ABORTED, "Timeout has been exceeded"), an input someone aborted (ABORTED,
 * "Rejected by X"), a newer build passing a milestone (NOT_BUILT, "Superseded by JOB#N").
 */
class Interrupted extends RuntimeException {
    String result
    Interrupted(String result, String cause) { super(cause); this.result = result }
}

class CurrentBuild {
    String description
    String displayName
    String result
    int number = 1
    String getCurrentResult() { result ?: 'SUCCESS' }
}

/** `env`: reads see overlays first; writes go to the build's own environment (env.X = v). */
class EnvProxy {
    private final BuildRun rt
    EnvProxy(BuildRun rt) { this.rt = rt }
    def getProperty(String name) { rt.effectiveEnv()[name] }
    void setProperty(String name, value) { rt.env[name] = value == null ? null : value.toString() }
    def getAt(String name) { getProperty(name) }
    void putAt(String name, value) { setProperty(name, value) }
    Map getEnvironment() { rt.effectiveEnv() }
}

/** Collects `NAME = value` assignments of an `environment { }` block. */
class EnvCollector {
    Script script
    Map values = [:]
    def propertyMissing(String name, value) { values[name] = value == null ? null : value.toString() }
    def propertyMissing(String name) { values.containsKey(name) ? values[name] : script.getProperty(name) }
}

class StageDef {
    String name
    Closure when
    boolean whenBeforeAgent
    boolean whenBeforeInput
    Closure steps
    Closure environment
    Map<String, Closure> post = [:]
    def agent                       // null: the parent's; 'none', 'any' or [label: ...]
    Map options = [:]               // stage-level options (timeout, ...)
    Map input                       // the `input { }` directive: message, ok, submitter, ...
    List<StageDef> children         // nested sequential `stages { }`
}

class PipelineDef {
    def agent
    Map options = [:]
    List parameters = []
    Closure environment
    List<StageDef> stages = []
    Map<String, Closure> post = [:]
}

class BuildRun {
    static final List POST_ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted',
                                    'failure', 'success', 'unstable', 'unsuccessful',
                                    'notBuilt', 'cleanup']

    Map run
    File workdir
    File cwd
    Map<String, String> env = [:]
    List<Map<String, String>> overlays = []
    List<String> secrets = []
    List<String> log = []
    List<String> shCommands = []
    Map params = [:]
    Map<String, String> stages = [:]
    List<String> archived = []
    CurrentBuild currentBuild = new CurrentBuild()
    EnvProxy envProxy
    Map<String, File> libraryVars = [:]
    Map<String, Script> libraryInstances = [:]
    GroovyShell shell
    // Where DSL calls go: "script" (scripted/steps), "pipeline", "options", "parameters",
    // "stages", "stage", "post", "when".
    String mode = 'script'
    PipelineDef pipeline
    StageDef stageDef
    Map<String, Closure> postDef
    List<List<Boolean>> conditions = []
    List<List<StageDef>> stageLists = []     // where `stage` definitions go (nesting)
    def agentTarget                          // PipelineDef or StageDef an `agent { }` sets
    Map optionsTarget                        // the options map `options { }` fills
    Map inputDef                             // the `input { }` directive being read
    // Executors: how many nodes the code runs inside now, and the workspaces handed out.
    int nodeDepth = 0
    int allocations = 0
    // Simulated time, in seconds: only an input's answers move it; timeouts are deadlines.
    long clock = 0
    List<Long> deadlines = []
    // The answers people give inputs, and other builds' milestone events, in order.
    List<Map> answers = []
    List<Map> inputs = []
    // Milestones of this job's builds (build number -> last ordinal, null: none yet).
    Map<Integer, Integer> milestones = [:]
    Integer lastOrdinal
    List<Integer> passed = []
    List<Integer> cancelled = []
    Map<String, File> stashes = [:]
    List<String> workspaces = []
    List<Map> checkouts = []                 // each `git` step: its arguments and workspace

    BuildRun(Map run) {
        this.run = run
        workdir = new File(run.workdir as String).canonicalFile
        cwd = workdir
        envProxy = new EnvProxy(this)
        (run.env ?: [:]).each { k, v -> env[k as String] = v as String }
        env.WORKSPACE = workdir.path
        if (!env.JOB_NAME) env.JOB_NAME = (run.job_name ?: 'harness') as String
        if (!env.BUILD_NUMBER) env.BUILD_NUMBER = '1'
        if (run.multibranch && run.branch) {
            env.BRANCH_NAME = run.branch as String
        }
        (run.library_dirs ?: []).each { dir ->
            new File(dir as String, 'vars').listFiles()?.findAll { it.name.endsWith('.groovy') }?.each {
                libraryVars[it.name[0..-8]] = it
            }
        }
        params.putAll(run.params ?: [:])
        currentBuild.number = buildNumber()
        answers.addAll((run.answers ?: []) as List<Map>)
        // Other builds of the job and the milestone each passed last (pipeline-milestone-step
        // records a starting build with none).
        (run.milestones ?: [:]).each { k, v -> milestones[(k as String) as Integer] = v == null ? null : v as Integer }
        milestones[buildNumber()] = null
    }

    int buildNumber() { env.BUILD_NUMBER as Integer }

    /** The environment a step sees: build env, parameters, then overlays (innermost wins). */
    Map<String, String> effectiveEnv() {
        Map<String, String> out = [:]
        params.each { k, v -> if (v != null) out[k as String] = v as String }
        env.each { k, v -> if (v != null) out[k] = v }
        overlays.each { layer -> out.putAll(layer) }
        return out
    }

    String mask(String text) {
        String out = text
        secrets.findAll { it }.sort { -it.length() }.each { out = out.replace(it, '****') }
        return out
    }

    void say(String line) {
        String masked = mask(line)
        log << masked
        println masked
    }

    Map scmVars() {
        String branch = (run.branch ?: 'main') as String
        Map vars = [GIT_BRANCH: "origin/${branch}".toString(), GIT_LOCAL_BRANCH: branch,
                    GIT_COMMIT: '0123456789abcdef0123456789abcdef01234567',
                    GIT_URL: 'https://git.example.invalid/service.git']
        vars.putAll(run.scm_vars ?: [:])
        return vars
    }
}

/** Base class of the evaluated Jenkinsfile and of every library var script. */
abstract class PipelineScript extends Script {
    static BuildRun rt

    // ------------------------------------------------------------ properties
    def getEnv() { rt.envProxy }
    def getParams() { Collections.unmodifiableMap(rt.params) }
    def getCurrentBuild() { rt.currentBuild }
    def getScm() { [$class: 'GitSCM', harness: true] }
    def getAny() { 'any' }
    def getNone() { 'none' }

    // ------------------------------------------------------------ library vars
    Script libraryVar(String name) {
        Script var = rt.libraryInstances[name]
        if (var == null) {
            var = rt.shell.parse(rt.libraryVars[name].getText('UTF-8'), name)
            rt.libraryInstances[name] = var
        }
        return var
    }

    /** `shipwayPipeline.isDeployBranch(...)`: a library var as an object, as Jenkins has it. */
    def propertyMissing(String name) {
        if (rt.libraryVars.containsKey(name)) return libraryVar(name)
        throw new MissingPropertyException(name, getClass())
    }

    def methodMissing(String name, args) {
        if (rt.libraryVars.containsKey(name)) {
            return libraryVar(name).invokeMethod('call', args)
        }
        throw new NoStandIn("no stand-in for ${name}(${(args as List).collect { it?.getClass()?.simpleName }.join(', ')}) in mode ${rt.mode}")
    }

    def inMode(String mode, Closure body) {
        String saved = rt.mode
        rt.mode = mode
        try {
            return body()
        } finally {
            rt.mode = saved
        }
    }

    // ------------------------------------------------------------ declarative structure
    def pipeline(Closure body) {
        if (rt.pipeline != null) throw new NoStandIn('pipeline { } may run only once')
        rt.pipeline = new PipelineDef()
        rt.stageLists << rt.pipeline.stages
        inMode('pipeline') { body() }
        runPipeline(rt.pipeline)
    }

    def agent(value) {
        def target = rt.mode == 'stage' ? rt.stageDef : rt.mode == 'pipeline' ? rt.pipeline : null
        if (target == null) throw new NoStandIn("agent in mode ${rt.mode}")
        if (value instanceof Closure) {
            rt.agentTarget = target
            inMode('agent') { value() }
        } else {
            target.agent = value
        }
    }

    def label(String value) {
        if (rt.mode != 'agent') throw new NoStandIn("label outside agent { }")
        rt.agentTarget.agent = [label: value]
    }

    def options(Closure body) {
        if (rt.mode != 'pipeline' && rt.mode != 'stage') throw new NoStandIn("options in mode ${rt.mode}")
        rt.optionsTarget = rt.mode == 'stage' ? rt.stageDef.options : rt.pipeline.options
        inMode('options') { body() }
    }

    /** The declarative `input { }` directive of a stage (evaluated after the stage's options,
     *  before its agent: pipeline-model-definition ModelInterpreter.stageInput). */
    def input(Closure body) {
        if (rt.mode != 'stage') throw new NoStandIn("input { } in mode ${rt.mode}")
        rt.inputDef = [:]
        inMode('input') { body() }
        rt.stageDef.input = rt.inputDef
    }
    def inputField(String name, value) {
        if (rt.mode != 'input') throw new NoStandIn("${name} outside input { }")
        rt.inputDef[name] = value
    }
    def message(String value) { inputField('message', value) }
    def ok(String value) { inputField('ok', value) }
    def submitter(String value) { inputField('submitter', value) }
    def submitterParameter(String value) { inputField('submitterParameter', value) }
    def id(String value) { inputField('id', value) }

    def parameters(Closure body) {
        if (rt.mode == 'input') throw new NoStandIn('input parameters (only submitterParameter is modelled)')
        inMode('parameters') { body() }
    }

    def environment(Closure body) {
        if (rt.mode == 'stage') {
            rt.stageDef.environment = body
        } else if (rt.mode == 'pipeline') {
            rt.pipeline.environment = body
        } else {
            throw new NoStandIn("environment { } in mode ${rt.mode}")
        }
    }

    def stages(Closure body) {
        if (rt.mode == 'stage') {
            // Sequential stages nested in a stage: they run in its agent, options and input.
            rt.stageDef.children = []
            rt.stageLists << rt.stageDef.children
            try {
                inMode('stages') { body() }
            } finally {
                rt.stageLists.remove(rt.stageLists.size() - 1)
            }
            return
        }
        if (rt.mode != 'pipeline') throw new NoStandIn("stages in mode ${rt.mode}")
        inMode('stages') { body() }
    }

    def stage(String name, Closure body) {
        if (rt.mode == 'stages') {
            StageDef saved = rt.stageDef
            rt.stageDef = new StageDef(name: name)
            try {
                inMode('stage') { body() }
                rt.stageLists[-1] << rt.stageDef
            } finally {
                rt.stageDef = saved
            }
            return null
        }
        // Scripted `stage('x') { ... }`: runs at once.
        rt.say("[Pipeline] stage (${name})")
        try {
            def value = body()
            rt.stages[name] = 'ran'
            return value
        } catch (Interrupted e) {
            rt.stages[name] = e.result == 'NOT_BUILT' ? 'not-built' : 'aborted'
            throw e
        } catch (StepFailed e) {
            rt.stages[name] = 'failed'
            throw e
        }
    }

    def when(Closure body) {
        rt.stageDef.when = body
        // Read beforeAgent/beforeInput now, as Declarative does when it parses the script.
        inMode('when-flags') { collectConditions(body) }
    }

    def steps(Closure body) { rt.stageDef.steps = body }

    def post(Closure body) {
        Map<String, Closure> target = rt.mode == 'stage' ? rt.stageDef.post : rt.pipeline.post
        rt.postDef = target
        inMode('post') { body() }
    }

    def postCondition(String name, Closure body) {
        if (rt.mode != 'post') throw new NoStandIn("${name} { } outside post")
        rt.postDef[name] = body
    }
    def always(Closure c) { postCondition('always', c) }
    def success(Closure c) { postCondition('success', c) }
    def failure(Closure c) { postCondition('failure', c) }
    def unstable(Closure c) { postCondition('unstable', c) }
    def aborted(Closure c) { postCondition('aborted', c) }
    def changed(Closure c) { postCondition('changed', c) }
    def fixed(Closure c) { postCondition('fixed', c) }
    def regression(Closure c) { postCondition('regression', c) }
    def unsuccessful(Closure c) { postCondition('unsuccessful', c) }
    def cleanup(Closure c) { postCondition('cleanup', c) }

    // ------------------------------------------------------------ options
    def option(String name, value) {
        if (rt.mode != 'options') throw new NoStandIn("${name}() outside options")
        rt.optionsTarget[name] = value
        return [option: name, value: value]
    }
    def disableConcurrentBuilds(Map args = [:]) {
        if (rt.optionsTarget.is(rt.stageDef?.options)) throw new NoStandIn('disableConcurrentBuilds() is no stage option')
        option('disableConcurrentBuilds', args)
    }
    def skipDefaultCheckout(boolean skip = true) { option('skipDefaultCheckout', skip) }
    def buildDiscarder(value) { option('buildDiscarder', value) }
    def logRotator(Map args) { [logRotator: args] }
    def timeout(Map args) { option('timeout', args) }
    def timestamps() { option('timestamps', true) }
    def retry(int count) { option('retry', count) }
    def quietPeriod(int seconds) { option('quietPeriod', seconds) }

    // ------------------------------------------------------------ parameters / bindings
    def parameter(String type, Map args) {
        rt.pipeline.parameters << [type: type] + args
        if (!rt.params.containsKey(args.name)) rt.params[args.name] = args.defaultValue
        return null
    }
    def string(Map args) {
        if (args.containsKey('credentialsId')) return [type: 'string'] + args
        // In steps (an input's `parameters:` list) it is a definition the step reads.
        if (rt.mode != 'parameters') return [type: 'string'] + args
        return parameter('string', args)
    }
    def text(Map args) { parameter('text', args) }
    def booleanParam(Map args) { parameter('booleanParam', args) }
    def choice(Map args) {
        // ChoiceParameterDefinition: a list, or one choice a line; the first is the default.
        List choices = args.choices instanceof String ? args.choices.split('\n') as List : args.choices as List
        if (rt.mode != 'parameters') return [type: 'choice'] + args + [choices: choices]
        return parameter('choice', [name: args.name, defaultValue: choices ? choices[0] : null] + args)
    }
    def usernamePassword(Map args) { [type: 'usernamePassword'] + args }
    def dockerCert(Map args) { [type: 'dockerCert'] + args }
    def file(Map args) { [type: 'file'] + args }

    // ------------------------------------------------------------ when conditions
    boolean condition(boolean value) {
        if (rt.mode == 'when-flags') return false    // reading beforeAgent/beforeInput only
        if (rt.mode != 'when' || rt.conditions.isEmpty()) throw new NoStandIn('condition outside when')
        rt.conditions[-1] << value
        return value
    }
    List<Boolean> collectConditions(Closure body) {
        rt.conditions << []
        try {
            body()
            return rt.conditions[-1]
        } finally {
            rt.conditions.remove(rt.conditions.size() - 1)
        }
    }
    def branch(String pattern) {
        def e = rt.effectiveEnv()
        // BranchConditionalScript: BRANCH_NAME, else GIT_LOCAL_BRANCH when that is empty.
        String name = e.BRANCH_NAME ?: e.GIT_LOCAL_BRANCH
        return condition(branchMatches(pattern, name))
    }
    def anyOf(Closure body) { condition(collectConditions(body).any { it }) }
    def allOf(Closure body) { condition(collectConditions(body).every { it }) }
    def not(Closure body) {
        List<Boolean> inner = collectConditions(body)
        if (rt.mode == 'when-flags') return false
        if (inner.size() != 1) throw new NoStandIn('not { } takes exactly one condition')
        return condition(!inner[0])
    }
    def expression(Closure body) {
        if (rt.mode == 'when-flags') return false
        def value = inMode('script') { body() }
        return condition(value as boolean)
    }
    def environment(Map args) { condition(rt.effectiveEnv()[args.name] == args.value) }
    def changeRequest(Map args = [:]) { condition(false) }
    def buildingTag() { condition(false) }
    def tag(String pattern) { condition(false) }
    def beforeAgent(boolean value) { if (rt.mode == 'when-flags') rt.stageDef.whenBeforeAgent = value; null }
    def beforeInput(boolean value) { if (rt.mode == 'when-flags') rt.stageDef.whenBeforeInput = value; null }

    /**
     * `when { branch }` exactly: pipeline-model-definition BranchConditional.branchMatches
     * (both empty: true; one empty: false) with its default Comparator.GLOB, which calls
     * Ant's SelectorUtils.matchPath(pattern, name, false): the real Ant, from the classpath
     * (tests/support/groovy puts Debian's ant.jar there).
     */
    static boolean branchMatches(String pattern, String name) {
        if (!name && !pattern) return true
        if (!name || !pattern) return false
        Class selectorUtils
        try {
            selectorUtils = Class.forName('org.apache.tools.ant.types.selectors.SelectorUtils')
        } catch (ClassNotFoundException missing) {
            throw new NoStandIn('when { branch } needs Ant on the classpath (Debian package ant)')
        }
        return selectorUtils.matchPath(pattern, name, false)
    }

    // ------------------------------------------------------------ running the pipeline
    boolean evaluateWhen(Closure body) {
        return inMode('when') { collectConditions(body).every { it } }
    }

    void runPost(Map<String, Closure> post, String result) {
        BuildRun.POST_ORDER.each { name ->
            Closure body = post[name]
            if (body == null) return
            boolean applies = name in ['always', 'cleanup'] ||
                (name == 'success' && result == 'SUCCESS') ||
                (name == 'failure' && result == 'FAILURE') ||
                (name == 'unstable' && result == 'UNSTABLE') ||
                (name == 'aborted' && result == 'ABORTED') ||
                (name == 'notBuilt' && result == 'NOT_BUILT') ||
                (name == 'unsuccessful' && result != 'SUCCESS')
            if (!applies) return
            rt.say("[Pipeline] post: ${name}")
            try {
                inMode('script') { body() }
            } catch (StepFailed e) {
                rt.say("ERROR: ${e.message}")
                rt.currentBuild.result = 'FAILURE'
            }
        }
    }

    Map<String, String> environmentOf(Closure body) {
        if (body == null) return [:]
        EnvCollector collector = new EnvCollector(script: this)
        Closure copy = body.rehydrate(collector, this, this)
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        inMode('script') { copy() }
        return collector.values
    }

    void runPipeline(PipelineDef p) {
        inAgent(p.agent) {
            withOverlay(environmentOf(p.environment)) {
                withTimeout(p.options.timeout as Map) {
                    runStages(p.stages)
                    runPost(p.post, rt.currentBuild.currentResult)
                }
            }
        }
    }

    /** Sequential stages: a failed (or interrupted) one skips the rest; true if one failed. */
    boolean runStages(List<StageDef> list) {
        boolean failed = false
        list.each { StageDef s ->
            if (failed) {
                skip(s, 'skipped-after-failure', "Stage \"${s.name}\" skipped due to earlier failure(s)")
                return
            }
            try {
                runStage(s)
            } catch (StageFailed e) {
                failed = true
            }
            if (rt.currentBuild.result == 'FAILURE') failed = true
        }
        return failed
    }

    void skip(StageDef s, String status, String message) {
        rt.say(message)
        rt.stages[s.name] = status
        s.children?.each { skip(it, status, "Stage \"${it.name}\" skipped") }
    }

    /**
     * One stage, in pipeline-model-definition ModelInterpreter.evaluateStage's order: its
     * options (timeout) around everything; `when` with beforeInput; its `input` (the
     * submitterParameter then in its environment); `when` with beforeAgent; its agent (a
     * node and a workspace; none for `agent none`); `when`; its environment; then its steps
     * and post, or its nested stages. Throws StageFailed once it has been reported.
     */
    void runStage(StageDef s) {
        Set unknown = s.options.keySet() - ['timeout']
        if (unknown) throw new NoStandIn("stage options ${unknown}")
        rt.say("[Pipeline] stage (${s.name})")
        withTimeout(s.options.timeout as Map) {
            if (s.when != null && s.whenBeforeInput && !evaluateWhen(s.when)) {
                skip(s, 'skipped', "Stage \"${s.name}\" skipped due to when conditional")
                return
            }
            boolean decided = s.when == null || s.whenBeforeInput
            try {
                stageInput(s.input) {
                    if (!decided && s.whenBeforeAgent) {
                        decided = true
                        if (!evaluateWhen(s.when)) {
                            skip(s, 'skipped', "Stage \"${s.name}\" skipped due to when conditional")
                            return
                        }
                    }
                    inAgent(s.agent) {
                        if (!decided && !evaluateWhen(s.when)) {
                            skip(s, 'skipped', "Stage \"${s.name}\" skipped due to when conditional")
                            return
                        }
                        withOverlay(environmentOf(s.environment)) {
                            if (s.children != null) runNested(s) else runSteps(s)
                        }
                    }
                }
            } catch (Interrupted e) {
                // Before its steps (its input or a timeout around it): the stage ends there.
                interrupted(s, e)
                runPost(s.post, e.result)
                throw new StageFailed()
            }
        }
    }

    void interrupted(StageDef s, Interrupted e) {
        rt.say(e.message)
        rt.stages[s.name] = e.result == 'NOT_BUILT' ? 'not-built' : 'aborted'
        rt.currentBuild.result = e.result
    }

    void runSteps(StageDef s) {
        String stageResult = 'SUCCESS'
        boolean failed = false
        try {
            if (s.steps != null) inMode('script') { s.steps() }
            rt.stages[s.name] = 'ran'
        } catch (Interrupted e) {
            interrupted(s, e)
            stageResult = e.result
            failed = true
        } catch (StepFailed | RuntimeException e) {
            // Jenkins fails the stage on any exception; a missing stand-in is no failure
            // of the script but a gap in the harness, reported as such.
            if (e instanceof NoStandIn || e instanceof MissingMethodException ||
                    e instanceof MissingPropertyException || e instanceof StageFailed) throw e
            rt.say("ERROR: ${e instanceof StepFailed ? e.message : e.toString()}")
            rt.stages[s.name] = 'failed'
            rt.currentBuild.result = 'FAILURE'
            stageResult = 'FAILURE'
            failed = true
        }
        runPost(s.post, stageResult)
        if (failed) throw new StageFailed()
    }

    void runNested(StageDef s) {
        boolean failed = runStages(s.children)
        rt.stages[s.name] = failed ? 'failed' : 'ran'
        runPost(s.post, rt.currentBuild.currentResult)
        if (failed) throw new StageFailed()
    }

    /** A stage's `input { }`: asked, then its submitterParameter is in the stage's environment. */
    def stageInput(Map input, Closure body) {
        if (input == null) return body()
        def submitted = askInput(input)
        if (input.submitterParameter) {
            return withOverlay([(input.submitterParameter as String): submitted as String], body)
        }
        return body()
    }

    /** A node for `agent` (null or 'none': none): a workspace of its own (the first is the
     *  run's workdir, later ones `workdir@N`, empty, as another executor's would be). */
    def inAgent(agent, Closure body) {
        if (agent == null || agent == 'none') return body()
        rt.allocations++
        File workspace = rt.allocations == 1 ? rt.workdir : new File(rt.workdir.path + '@' + rt.allocations)
        workspace.mkdirs()
        rt.workspaces << workspace.path
        File saved = rt.cwd
        rt.cwd = workspace
        rt.nodeDepth++
        try {
            return withOverlay([WORKSPACE: workspace.path], body)
        } finally {
            rt.nodeDepth--
            rt.cwd = saved
        }
    }

    // ------------------------------------------------------------ time, input, milestones
    static final Map UNIT_MILLIS = [NANOSECONDS: 0.000001, MICROSECONDS: 0.001, MILLISECONDS: 1,
                                    SECONDS: 1000, MINUTES: 60000, HOURS: 3600000, DAYS: 86400000]

    /** The timeout step (workflow-basic-steps TimeoutStep: unit default MINUTES): a deadline
     *  on the simulated clock that an input waiting past it is interrupted at. */
    def withTimeout(Map args, Closure body) {
        if (args == null) return body()
        if (args.activity) throw new NoStandIn('timeout(activity: true)')
        String unit = (args.unit ?: 'MINUTES') as String
        if (!UNIT_MILLIS.containsKey(unit)) throw new StepFailed("No enum constant java.util.concurrent.TimeUnit.${unit}")
        long millis = Math.round((args.time as double) * (UNIT_MILLIS[unit] as double))
        rt.say("Timeout set to expire in ${args.time} ${unit.toLowerCase()}")
        rt.deadlines << rt.clock + millis
        try {
            return body()
        } finally {
            rt.deadlines.remove(rt.deadlines.size() - 1)
        }
    }

    /**
     * The input step (pipeline-input-step InputStepExecution), answered from run.answers in
     * order: each answer {user, groups, action: proceed|abort, after: seconds since asked,
     * admin, cancel} or another build's event {build, passes: N | completes | runs: a
     * script it runs meanwhile, in its workdir with its env (runFor)}. Who
     * may proceed is canSettle: with no submitter, anyone with Job/Build (answer.build_permission,
     * default true); else an administrator, or a user or group named in the comma-separated
     * submitter (each trimmed, compared as the default IdStrategy does: ignoring case). A
     * refused answer changes nothing (Jenkins answers that user with an error page) and the
     * input keeps waiting; an abort by a submitter or someone with Job/Cancel ends the build
     * ABORTED; no answer before the innermost timeout's deadline: the timeout interrupts it.
     * The `parameters:` (choice and string definitions) take the answer's `parameters`
     * {NAME: value; for a choice, the index of one of its choices}, else their default (a
     * choice's first, a string's defaultValue, trimmed with trim: true). Returns what
     * InputStepExecution.proceed does: the values with the approver's id under the
     * submitterParameter; none: null, one: that value, more: the map.
     */
    def askInput(Map args) {
        String submitter = args.submitter ? (args.submitter as String).trim() : null
        Map ask = [message: args.message, ok: args.ok ?: 'Proceed', submitter: submitter,
                   submitterParameter: args.submitterParameter, held_executor: rt.nodeDepth > 0,
                   asked_at: rt.clock / 1000.0, refused: [],
                   parameters: (args.parameters ?: []).collect { it as Map }]
        rt.inputs << ask
        rt.say(args.message as String)
        rt.say("${ask.ok} or Abort")
        long asked = rt.clock
        while (true) {
            Long deadline = rt.deadlines ? rt.deadlines.min() : null
            Map answer = rt.answers ? rt.answers[0] : null
            long at = answer == null ? Long.MAX_VALUE :
                Math.max(rt.clock, asked + Math.round(((answer.after ?: 0) as double) * 1000))
            if (deadline != null && at > deadline) {
                rt.clock = Math.max(rt.clock, deadline)
                ask.outcome = 'timeout'
                rt.say('Cancelling nested steps due to timeout')
                throw new Interrupted('ABORTED', 'Timeout has been exceeded')
            }
            if (answer == null) {
                throw new NoStandIn("input '${args.message}' would wait forever: no answer left and no timeout")
            }
            rt.answers.remove(0)
            rt.clock = at
            if (answer.build != null) {
                otherBuild(answer, ask)
                continue
            }
            String user = answer.user as String
            if (answer.action == 'abort') {
                if (answer.cancel || canSettle(submitter, answer)) {
                    ask.outcome = 'aborted'
                    ask.by = user
                    throw new Interrupted('ABORTED', "Rejected by ${user}")
                }
                String why = "You need to be '${submitter}' (or have Job/Cancel permissions) to cancel this."
                ask.refused << [user: user, action: 'abort', reason: why]
                rt.say("[harness] ${user} may not abort: ${why}")
                continue
            }
            if (!canSettle(submitter, answer)) {
                String why = submitter ? "You need to be ${submitter} to submit this." :
                    'You need to have Job/Build permissions to submit this.'
                ask.refused << [user: user, action: 'proceed', reason: why]
                rt.say("[harness] ${user} may not proceed: ${why}")
                continue
            }
            ask.outcome = 'approved'
            ask.approver = user
            rt.say("Approved by ${user}")
            Map values = inputValues(ask.parameters as List<Map>, (answer.parameters ?: [:]) as Map)
            ask.values = values
            if (args.submitterParameter) values[args.submitterParameter as String] = user
            return values.size() == 0 ? null : values.size() == 1 ? values.values()[0] : values
        }
    }

    /** The values an answer gives an input's parameter definitions (see askInput). */
    static Map inputValues(List<Map> definitions, Map given) {
        Map values = [:]
        definitions.each { Map p ->
            String name = p.name as String
            def value = given.containsKey(name) ? given[name] : null
            if (p.type == 'choice') {
                List choices = p.choices as List
                if (value == null) value = 0
                if (!(value instanceof Integer) || value < 0 || value >= choices.size()) {
                    throw new NoStandIn("answer ${name}: give the index of one of ${choices.size()} choices")
                }
                values[name] = choices[value as int]
            } else if (p.type == 'string') {
                String text = value == null ? (p.defaultValue ?: '') as String : value as String
                values[name] = p.trim ? text.trim() : text
            } else {
                throw new NoStandIn("input parameter of type ${p.type}")
            }
        }
        return values
    }

    static boolean canSettle(String submitter, Map answer) {
        if (submitter == null) return answer.build_permission == null ? true : answer.build_permission as boolean
        if (answer.admin) return true     // Jenkins.ADMINISTER always may (JENKINS-56016)
        List<String> names = submitter.split(',').collect { it.trim() }
        List<String> ids = [answer.user as String] + ((answer.groups ?: []) as List<String>)
        return ids.any { id -> names.any { it.equalsIgnoreCase(id) } }
    }

    def input(Map args) { askInput(args) }
    def input(String message) { askInput([message: message]) }

    /**
     * pipeline-milestone-step MilestoneStepExecution.getBuildsToCancel: when build `number`
     * passes `ordinal`, older builds that passed none or a lower one are cancelled; if a
     * newer build already passed it or a later one, `number` itself is.
     */
    static Map<Integer, Integer> buildsToCancel(int number, Integer ordinal, Map<Integer, Integer> milestones) {
        Map<Integer, Integer> out = [:]
        milestones.each { Integer build, Integer passed ->
            if (build < number) {
                if (passed == null || (ordinal != null && passed < ordinal)) out[build] = number
            } else if (build > number && ((ordinal == null && passed != null) ||
                    (ordinal != null && passed != null && passed >= ordinal))) {
                out[number] = build
            }
        }
        return out
    }

    /** Cancels what `number` passing `ordinal` cancels; this build: NOT_BUILT, superseded. */
    void cancelFor(int number, Integer ordinal) {
        int me = rt.buildNumber()
        buildsToCancel(number, ordinal, rt.milestones).each { Integer build, Integer newer ->
            if (build == me) {
                throw new Interrupted('NOT_BUILT', "Superseded by ${rt.env.JOB_NAME}#${newer}")
            }
            rt.milestones.remove(build)
            rt.cancelled << build
        }
    }

    /** Another build of the job passed a milestone, or completed, while this one waits. */
    void otherBuild(Map event, Map ask) {
        int number = event.build as int
        (ask.events = ask.events ?: []) << event
        if (event.runs != null) {
            // What that build's steps do meanwhile (deploy to the environment before this
            // gate, say), run for real as its `sh` would: the event records the exit code.
            event.returncode = runFor(number, event)
            return
        }
        if (event.passes != null) {
            rt.milestones[number] = event.passes as Integer
            cancelFor(number, event.passes as Integer)
        } else if (event.completes) {
            // MilestoneStepExecution.Listener.onCompleted: a build that used milestones
            // cancels every older build still running.
            boolean used = rt.milestones.containsKey(number) && rt.milestones[number] != null
            rt.milestones.remove(number)
            if (used) cancelFor(number, Integer.MAX_VALUE)
        } else {
            throw new NoStandIn("event ${event}")
        }
    }

    /** Another build's script {runs, workdir, env}: `/bin/sh -xe` in its workspace with its
     *  whole environment, its output in this log as `[#N] ...`; returns the exit code. */
    int runFor(int number, Map event) {
        rt.say("[harness] build #${number} meanwhile:")
        ProcessBuilder pb = new ProcessBuilder(['/bin/sh', '-xe', '-c', event.runs as String])
            .directory(new File(event.workdir as String)).redirectErrorStream(true)
        pb.environment().clear()
        (event.env ?: [:]).each { k, v -> pb.environment()[k as String] = v as String }
        pb.redirectInput(ProcessBuilder.Redirect.from(new File('/dev/null')))
        Process process = pb.start()
        process.inputStream.eachLine('UTF-8') { rt.say("[#${number}] ${it}") }
        return process.waitFor()
    }

    def milestone(Map args) { passMilestone(args.ordinal as Integer, args.label as String) }
    def milestone(Integer ordinal) { passMilestone(ordinal, null) }
    def milestone() { passMilestone(null, null) }

    def passMilestone(Integer ordinal, String label) {
        Integer previous = rt.lastOrdinal
        int next
        if (ordinal != null) {
            if (previous != null && previous >= ordinal) {
                throw new StepFailed("Invalid ordinal ${ordinal}, as the previous one was ${previous}")
            }
            next = ordinal
        } else {
            next = previous == null ? 0 : previous + 1
        }
        rt.lastOrdinal = next
        rt.say("Trying to pass milestone ${next}")
        rt.milestones[rt.buildNumber()] = next
        cancelFor(rt.buildNumber(), next)
        rt.passed << next
        return null
    }

    /** At the end of the run: a build that used milestones cancels every older one. */
    void completeMilestones() {
        if (rt.lastOrdinal == null) return
        rt.milestones.remove(rt.buildNumber())
        buildsToCancel(rt.buildNumber(), Integer.MAX_VALUE, rt.milestones).keySet().each {
            rt.milestones.remove(it)
            rt.cancelled << it
        }
    }

    // ------------------------------------------------------------ steps
    def echo(message) { rt.say(String.valueOf(message)) }

    def error(String message) { throw new StepFailed(message) }

    def script(Closure body) { body() }

    def node(Closure body) { inAgent('any', body) }
    def node(String label, Closure body) { inAgent([label: label], body) }

    def timeout(Map args, Closure body) { withTimeout(args, body) }
    def timestamps(Closure body) { body() }
    def retry(int count, Closure body) {
        StepFailed last = null
        for (int i = 0; i < count; i++) {
            try {
                return body()
            } catch (StepFailed e) {
                last = e
                rt.say("ERROR: ${e.message} (attempt ${i + 1} of ${count})")
            }
        }
        throw last
    }
    def sleep(time) { null }
    def isUnix() { true }
    def properties(List values) { null }

    def checkout(scm) {
        rt.say('[Pipeline] checkout')
        return rt.scmVars()
    }

    /** The Git plugin's `git` step (GitStep: url, branch, credentialsId, changelog, poll):
     *  the files of run.repository copied into the workspace, as a checkout of it would
     *  leave them; returns the scm variables `checkout` returns. */
    def git(Map args) {
        if (rt.nodeDepth == 0) throw new StepFailed(NEEDS_NODE)
        if (!args.url) throw new StepFailed('git: url is required')
        if (!rt.run.repository) throw new NoStandIn('git without run.repository')
        rt.say("[Pipeline] git ${args.url} ${args.branch ?: 'master'}")
        rt.checkouts << [url: args.url, branch: args.branch ?: 'master', credentialsId: args.credentialsId,
                         changelog: args.changelog, poll: args.poll, workspace: rt.cwd.path]
        File repository = new File(rt.run.repository as String)
        repository.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            File target = new File(rt.cwd, repository.toPath().relativize(f.toPath()).toString())
            target.parentFile.mkdirs()
            java.nio.file.Files.copy(f.toPath(), target.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING)
        }
        return rt.scmVars()
    }

    def dir(String path, Closure body) {
        File saved = rt.cwd
        File target = new File(path).isAbsolute() ? new File(path) : new File(rt.cwd, path)
        target.mkdirs()
        rt.cwd = target
        try {
            return body()
        } finally {
            rt.cwd = saved
        }
    }

    def withEnv(List values, Closure body) {
        Map<String, String> layer = [:]
        values.each { String item ->
            int eq = item.indexOf('=')
            if (eq < 1) throw new StepFailed("withEnv: not NAME=VALUE: ${item}")
            layer[item.substring(0, eq)] = item.substring(eq + 1)
        }
        return withOverlay(layer, body)
    }

    def withOverlay(Map<String, String> layer, Closure body) {
        rt.overlays << layer
        try {
            return body()
        } finally {
            rt.overlays.remove(rt.overlays.size() - 1)
        }
    }

    // binding symbol: [display name of the credential kind, the type the binding expects]
    static final Map CREDENTIAL_KINDS = [
        usernamePassword: ['Username with password', 'com.cloudbees.plugins.credentials.common.StandardUsernamePasswordCredentials'],
        string: ['Secret text', 'org.jenkinsci.plugins.plaincredentials.StringCredentials'],
        dockerCert: ['X.509 Client Certificate', 'org.jenkinsci.plugins.docker.commons.credentials.DockerServerCredentials']]
    static final String NEEDS_NODE = 'Required context class hudson.FilePath is missing\n' +
        'Perhaps you forgot to surround the code with a step that provides this, such as: node'

    static String credentialKind(entry) {
        if (entry instanceof Map && entry.containsKey('password')) return 'usernamePassword'
        if (entry instanceof Map && entry.containsKey('client_key')) return 'dockerCert'
        return 'string'
    }

    /**
     * docker-commons DockerServerCredentialsBinding (symbol dockerCert), an AbstractOnDiskBinding
     * of credentials-binding: key.pem, cert.pem and ca.pem (0600) in a new 0700 directory
     * WORKSPACE@tmp/secretFiles/UUID, whose path is the variable's (masked) value; the
     * directory is deleted when the block ends. It needs a workspace: a node.
     */
    File writeCertificate(Map entry) {
        if (rt.nodeDepth == 0) throw new StepFailed(NEEDS_NODE)
        File secrets = new File(rt.effectiveEnv().WORKSPACE + '@tmp', 'secretFiles')
        File dir = new File(secrets, UUID.randomUUID().toString())
        dir.mkdirs()
        [secrets, dir].each { it.setReadable(false, false); it.setReadable(true, true); it.setWritable(false, false); it.setWritable(true, true); it.setExecutable(false, false); it.setExecutable(true, true) }
        [['key.pem', entry.client_key], ['cert.pem', entry.client_cert], ['ca.pem', entry.ca_cert]].each { name, text ->
            File f = new File(dir, name as String)
            f.setText(text as String, 'UTF-8')
            f.setReadable(false, false); f.setReadable(true, true); f.setWritable(false, false); f.setWritable(true, true)
        }
        return dir
    }

    def withCredentials(List bindings, Closure body) {
        Map<String, String> layer = [:]
        List<String> secrets = []
        List<File> directories = []
        Map store = rt.run.credentials ?: [:]
        bindings.each { Map b ->
            def entry = store[b.credentialsId]
            if (entry == null) throw new StepFailed("Could not find credentials entry with ID '${b.credentialsId}'")
            // A binding takes one kind of credential (credentials-binding MultiBinding
            // .getCredentials): a map with a password is a Username with password, one with
            // a client_key an X.509 Client Certificate, a string or a map with a secret a
            // Secret text; the wrong kind fails the step.
            String kind = credentialKind(entry)
            if (b.type in CREDENTIAL_KINDS && kind != b.type) {
                throw new StepFailed("Credentials '${b.credentialsId}' is of type '${CREDENTIAL_KINDS[kind][0]}' " +
                                     "where '${CREDENTIAL_KINDS[b.type][1]}' was expected")
            }
            if (b.type == 'usernamePassword') {
                layer[b.usernameVariable] = entry.username as String
                layer[b.passwordVariable] = entry.password as String
                secrets << (entry.password as String)
            } else if (b.type == 'string') {
                String secret = entry instanceof Map ? entry.secret : entry
                layer[b.variable] = secret
                secrets << secret
            } else if (b.type == 'dockerCert') {
                File dir = writeCertificate(entry as Map)
                directories << dir
                layer[b.variable] = dir.path
                secrets << dir.path
            } else {
                throw new NoStandIn("withCredentials binding ${b.type}")
            }
        }
        rt.say('[Pipeline] withCredentials')
        int before = rt.secrets.size()
        rt.secrets.addAll(secrets)
        try {
            return withOverlay(layer, body)
        } finally {
            while (rt.secrets.size() > before) rt.secrets.remove(rt.secrets.size() - 1)
            directories.each { it.deleteDir() }
        }
    }

    def sh(String script) { sh(script: script) }

    def sh(Map args) {
        if (rt.nodeDepth == 0) throw new StepFailed(NEEDS_NODE)
        String script = args.script as String
        rt.shCommands << script
        rt.say('[Pipeline] sh')
        File file = File.createTempFile('harness-sh-', '.sh')
        try {
            file.setText(script, 'UTF-8')
            List<String> command = script.startsWith('#!') ?
                ['/bin/sh', '-c', 'chmod +x "$1" && exec "$1"', 'sh', file.path] :
                ['/bin/sh', '-xe', file.path]
            ProcessBuilder pb = new ProcessBuilder(command).directory(rt.cwd)
            pb.environment().clear()
            pb.environment().putAll(rt.effectiveEnv())
            File errFile = null
            if (args.returnStdout) {
                errFile = File.createTempFile('harness-err-', '.txt')
                pb.redirectError(errFile)
            } else {
                pb.redirectErrorStream(true)
            }
            pb.redirectInput(ProcessBuilder.Redirect.from(new File('/dev/null')))
            Process process = pb.start()
            String stdout = null
            if (args.returnStdout) {
                stdout = process.inputStream.getText('UTF-8')
            } else {
                process.inputStream.eachLine('UTF-8') { rt.say(it) }
            }
            int code = process.waitFor()
            if (errFile != null) {
                errFile.eachLine('UTF-8') { rt.say(it) }
                errFile.delete()
            }
            if (args.returnStatus) return code
            if (code != 0) throw new StepFailed("script returned exit code ${code}")
            return stdout
        } finally {
            file.delete()
        }
    }

    File inCwd(String path) {
        File f = new File(path)
        return f.isAbsolute() ? f : new File(rt.cwd, path)
    }

    def readFile(String path) { inCwd(path).getText('UTF-8') }
    def readFile(Map args) { inCwd(args.file as String).getText((args.encoding ?: 'UTF-8') as String) }
    def writeFile(Map args) { File f = inCwd(args.file as String); f.parentFile.mkdirs(); f.setText(args.text as String, 'UTF-8') }
    def fileExists(String path) { inCwd(path).exists() }
    def deleteDir() { rt.cwd.deleteDir(); rt.cwd.mkdirs() }

    /**
     * stash/unstash (workflow-api StashManager): the files Ant's DirectoryScanner (Debian's
     * ant.jar, as Jenkins' DirScanner.Glob) picks with `includes` (default all), `excludes`
     * and the default excludes (.git, ...), copied out of the workspace and back into one.
     */
    def stash(Map args) {
        if (rt.nodeDepth == 0) throw new StepFailed(NEEDS_NODE)
        def scanner = Class.forName('org.apache.tools.ant.DirectoryScanner').newInstance()
        scanner.basedir = rt.cwd
        scanner.includes = ((args.includes ?: '**') as String).split(',')*.trim() as String[]
        if (args.excludes) scanner.excludes = (args.excludes as String).split(',')*.trim() as String[]
        if (args.useDefaultExcludes != false) scanner.addDefaultExcludes()
        scanner.scan()
        String[] files = scanner.includedFiles
        if (files.length == 0 && !args.allowEmpty) throw new StepFailed("No files included in stash '${args.name}'")
        File store = File.createTempDir('harness-stash-', '')
        files.each { String rel ->
            File target = new File(store, rel)
            target.parentFile.mkdirs()
            java.nio.file.Files.copy(new File(rt.cwd, rel).toPath(), target.toPath())
        }
        rt.stashes[args.name as String] = store
        rt.say("Stashed ${files.length} file(s)")
    }
    def stash(String name) { stash(name: name) }

    def unstash(String name) {
        if (rt.nodeDepth == 0) throw new StepFailed(NEEDS_NODE)
        File store = rt.stashes[name]
        if (store == null) throw new StepFailed("No such saved stash ‘${name}’")
        store.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            File target = new File(rt.cwd, store.toPath().relativize(f.toPath()).toString())
            target.parentFile.mkdirs()
            java.nio.file.Files.copy(f.toPath(), target.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING)
        }
    }
    def unstash(Map args) { unstash(args.name as String) }

    def readJSON(Map args) {
        if (args.text != null) return new JsonSlurper().parseText(args.text as String)
        File f = inCwd(args.file as String)
        if (!f.exists()) throw new StepFailed("${args.file} does not exist.")
        try {
            return new JsonSlurper().parse(f, 'UTF-8')
        } catch (groovy.json.JsonException e) {
            throw new StepFailed("${args.file} is not JSON: ${e.message.readLines()[0]}")
        }
    }

    def junit(Map args) { rt.say("[Pipeline] junit: ${args.testResults}") }

    def archiveArtifacts(String artifacts) { archiveArtifacts(artifacts: artifacts) }

    def archiveArtifacts(Map args) {
        List<String> patterns = (args.artifacts as String).split(',')*.trim().findAll { it }
        List<String> found = []
        def base = rt.cwd.toPath()
        patterns.each { pattern ->
            def matcher = FileSystems.default.getPathMatcher("glob:${pattern}")
            rt.cwd.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
                def relative = base.relativize(f.toPath())
                if (matcher.matches(relative)) found << relative.toString()
            }
        }
        if (found.isEmpty() && !args.allowEmptyArchive) {
            throw new StepFailed("No artifacts found that match the file pattern \"${args.artifacts}\"")
        }
        rt.say("[Pipeline] archiveArtifacts: ${found.sort().join(', ') ?: 'nothing'}")
        rt.archived.addAll(found)
    }
}

// ---------------------------------------------------------------- main
if (args.length != 2) {
    System.err.println('usage: groovy harness.groovy RUNS.json RESULTS.json')
    System.exit(2)
}
List runs = new JsonSlurper().parse(new File(args[0]), 'UTF-8') as List
List results = []
runs.each { Map run ->
    BuildRun rt = new BuildRun(run)
    PipelineScript.rt = rt
    CompilerConfiguration cc = new CompilerConfiguration()
    cc.scriptBaseClass = PipelineScript.name
    rt.shell = new GroovyShell(this.class.classLoader, new Binding(), cc)
    int returncode
    Script script = null
    try {
        script = rt.shell.parse(run.script as String, 'Jenkinsfile')
        script.run()
        String result = rt.currentBuild.currentResult
        rt.say("Finished: ${result}")
        returncode = result == 'SUCCESS' ? 0 : 1
    } catch (org.codehaus.groovy.control.CompilationFailedException e) {
        rt.say("ERROR: the script does not compile: ${e.message}")
        rt.currentBuild.result = 'FAILURE'
        returncode = 1
    } catch (StepFailed e) {
        // A step outside any declarative stage (a scripted pipeline or a library call).
        rt.say("ERROR: ${e.message}")
        rt.say('Finished: FAILURE')
        rt.currentBuild.result = 'FAILURE'
        returncode = 1
    } catch (Interrupted e) {
        rt.say(e.message)
        rt.say("Finished: ${e.result}")
        rt.currentBuild.result = e.result
        returncode = 1
    } catch (NoStandIn e) {
        rt.say("HARNESS: ${e.message}")
        returncode = 3
    } catch (MissingPropertyException e) {
        rt.say("HARNESS: no stand-in for property ${e.property}: ${e.message}")
        returncode = 3
    } catch (MissingMethodException e) {
        rt.say("HARNESS: no stand-in for ${e.method}: ${e.message}")
        returncode = 3
    }
    if (returncode != 3 && script != null) script.completeMilestones()
    rt.stashes.values().each { it.deleteDir() }
    results << [returncode: returncode, result: rt.currentBuild.currentResult,
                description: rt.currentBuild.description, log: rt.log.join('\n') + '\n',
                sh_commands: rt.shCommands, stages: rt.stages, archived: rt.archived,
                params: rt.params, agent: rt.pipeline?.agent, inputs: rt.inputs,
                milestones: rt.passed, cancelled: rt.cancelled, workspaces: rt.workspaces,
                checkouts: rt.checkouts]
}
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')

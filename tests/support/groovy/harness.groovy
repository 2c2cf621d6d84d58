// Test harness: Groovy stand-ins for the Jenkins Pipeline DSL, enough to run a rendered
// declarative Jenkinsfile (and the shipway shared library) outside Jenkins.
//
//   groovy harness.groovy RUNS.json RESULTS.json
//
// RUNS.json is a list of runs; each: {script, branch, multibranch, env, credentials, params,
// workdir, scm_vars, library_dirs, job_name}. RESULTS.json receives one record per run:
// {returncode, result, description, log, sh_commands, stages, archived, params}.
// Several runs share one JVM because starting it costs about a second.
//
// What is modelled (as Jenkins does it): declarative stages run in order; `when` is evaluated
// before a stage (branch: BRANCH_NAME, else GIT_LOCAL_BRANCH, Ant's own matchPath); a failed
// stage fails the build and skips the stages after it; post conditions run in Jenkins' order.
// `sh` runs the script for real with `/bin/sh -xe` (what Jenkins runs when the script has no
// #! line) in the workdir, with the build environment: env + parameters + withEnv/
// withCredentials overlays. Bound secrets are masked as **** in the log, as Jenkins does.
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

/** The script used a DSL element the harness has no stand-in for. */
class NoStandIn extends RuntimeException {
    NoStandIn(String message) { super(message) }
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
    Closure steps
    Closure environment
    Map<String, Closure> post = [:]
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
                                    'failure', 'success', 'unstable', 'unsuccessful', 'cleanup']

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
    }

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
    def methodMissing(String name, args) {
        if (rt.libraryVars.containsKey(name)) {
            Script var = rt.libraryInstances[name]
            if (var == null) {
                var = rt.shell.parse(rt.libraryVars[name].getText('UTF-8'), name)
                rt.libraryInstances[name] = var
            }
            return var.invokeMethod('call', args)
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
        inMode('pipeline') { body() }
        runPipeline(rt.pipeline)
    }

    def agent(value) {
        if (value instanceof Closure) {
            inMode('agent') { value() }
        } else if (rt.mode == 'pipeline') {
            rt.pipeline.agent = value
        }
    }

    def label(String value) { if (rt.mode == 'agent' && rt.pipeline) rt.pipeline.agent = [label: value] }

    def options(Closure body) { inMode('options') { body() } }

    def parameters(Closure body) { inMode('parameters') { body() } }

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
        if (rt.mode != 'pipeline') throw new NoStandIn("nested stages in mode ${rt.mode}")
        inMode('stages') { body() }
    }

    def stage(String name, Closure body) {
        if (rt.mode == 'stages') {
            StageDef saved = rt.stageDef
            rt.stageDef = new StageDef(name: name)
            try {
                inMode('stage') { body() }
                rt.pipeline.stages << rt.stageDef
            } finally {
                rt.stageDef = saved
            }
            return null
        }
        // Scripted `stage('x') { ... }`: runs at once.
        rt.say("[Pipeline] stage (${name})")
        rt.stages[name] = 'ran'
        return body()
    }

    def when(Closure body) { rt.stageDef.when = body }

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
        rt.pipeline.options[name] = value
        return [option: name, value: value]
    }
    def disableConcurrentBuilds(Map args = [:]) { option('disableConcurrentBuilds', args) }
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
        if (rt.mode != 'parameters') throw new NoStandIn('string() outside parameters')
        return parameter('string', args)
    }
    def text(Map args) { parameter('text', args) }
    def booleanParam(Map args) { parameter('booleanParam', args) }
    def choice(Map args) {
        List choices = args.choices instanceof String ? args.choices.split('\n') as List : args.choices as List
        return parameter('choice', [name: args.name, defaultValue: choices ? choices[0] : null] + args)
    }
    def usernamePassword(Map args) { [type: 'usernamePassword'] + args }
    def file(Map args) { [type: 'file'] + args }

    // ------------------------------------------------------------ when conditions
    boolean condition(boolean value) {
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
        if (inner.size() != 1) throw new NoStandIn('not { } takes exactly one condition')
        return condition(!inner[0])
    }
    def expression(Closure body) {
        def value = inMode('script') { body() }
        return condition(value as boolean)
    }
    def environment(Map args) { condition(rt.effectiveEnv()[args.name] == args.value) }
    def changeRequest(Map args = [:]) { condition(false) }
    def buildingTag() { condition(false) }
    def tag(String pattern) { condition(false) }
    def beforeAgent(boolean value) { null }

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
        rt.overlays << environmentOf(p.environment)
        boolean failed = false
        p.stages.each { StageDef s ->
            if (failed) {
                rt.say("Stage \"${s.name}\" skipped due to earlier failure(s)")
                rt.stages[s.name] = 'skipped-after-failure'
                return
            }
            if (s.when != null && !evaluateWhen(s.when)) {
                rt.say("Stage \"${s.name}\" skipped due to when conditional")
                rt.stages[s.name] = 'skipped'
                return
            }
            rt.say("[Pipeline] stage (${s.name})")
            rt.overlays << environmentOf(s.environment)
            String stageResult = 'SUCCESS'
            try {
                if (s.steps != null) inMode('script') { s.steps() }
                rt.stages[s.name] = 'ran'
            } catch (StepFailed | RuntimeException e) {
                // Jenkins fails the stage on any exception; a missing stand-in is no failure
                // of the script but a gap in the harness, reported as such.
                if (e instanceof NoStandIn || e instanceof MissingMethodException ||
                        e instanceof MissingPropertyException) throw e
                rt.say("ERROR: ${e instanceof StepFailed ? e.message : e.toString()}")
                rt.stages[s.name] = 'failed'
                rt.currentBuild.result = 'FAILURE'
                stageResult = 'FAILURE'
                failed = true
            } finally {
                rt.overlays.remove(rt.overlays.size() - 1)
            }
            runPost(s.post, stageResult)
            if (rt.currentBuild.result == 'FAILURE') failed = true
        }
        runPost(p.post, rt.currentBuild.currentResult)
        rt.overlays.remove(rt.overlays.size() - 1)
    }

    // ------------------------------------------------------------ steps
    def echo(message) { rt.say(String.valueOf(message)) }

    def error(String message) { throw new StepFailed(message) }

    def script(Closure body) { body() }

    def node(Closure body) { body() }
    def node(String label, Closure body) { body() }

    def timeout(Map args, Closure body) { body() }
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
        string: ['Secret text', 'org.jenkinsci.plugins.plaincredentials.StringCredentials']]

    def withCredentials(List bindings, Closure body) {
        Map<String, String> layer = [:]
        List<String> secrets = []
        Map store = rt.run.credentials ?: [:]
        bindings.each { Map b ->
            def entry = store[b.credentialsId]
            if (entry == null) throw new StepFailed("Could not find credentials entry with ID '${b.credentialsId}'")
            // A binding takes one kind of credential (credentials-binding MultiBinding
            // .getCredentials): a map with a password is a Username with password, a string
            // or a map with a secret a Secret text; the wrong kind fails the step.
            String kind = (entry instanceof Map && entry.containsKey('password')) ? 'usernamePassword' : 'string'
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
        }
    }

    def sh(String script) { sh(script: script) }

    def sh(Map args) {
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
    try {
        Script script = rt.shell.parse(run.script as String, 'Jenkinsfile')
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
    results << [returncode: returncode, result: rt.currentBuild.currentResult,
                description: rt.currentBuild.description, log: rt.log.join('\n') + '\n',
                sh_commands: rt.shCommands, stages: rt.stages, archived: rt.archived,
                params: rt.params, agent: rt.pipeline?.agent]
}
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')

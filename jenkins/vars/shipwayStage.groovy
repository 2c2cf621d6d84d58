// shipwayStage(stage: 'push', service: 'hello', catalog: 'shipway.yml', credentials: 'registry-creds')
//
// One `shipway` CLI call. Every value reaches the shell as an environment variable and the
// script only names the variables, so no value is ever parsed as Groovy or as shell.
import groovy.transform.Field

@Field static final List<String> STAGES = ['build', 'image', 'push', 'deploy', 'promote', 'continue', 'rollback', 'status', 'releases']
// The calls whose deploy.analysis may pause an inconclusive update: shipway exits 3.
@Field static final List<String> PAUSING = ['deploy', 'promote', 'continue']

/**
 * stage        the shipway subcommand (required): build, image, push, deploy, promote, rollback,
 *              status, releases
 * service      the service name (required)
 * catalog      the catalog's path in the workspace; null or '' for none (rollback needs none)
 * environment  the catalog environment it acts on (--environment); null for none
 * environments environments whose credentials to bind, each [name:, credentials:,
 *              registryCredentials:]: its Docker client certificate (dockerCert) as
 *              DOCKER_CERT_PATH_<NAME> with DOCKER_TLS_VERIFY_<NAME>=1, its registry login
 *              as SHIPWAY_REGISTRY_USER_<NAME> / SHIPWAY_REGISTRY_PASSWORD_<NAME> (NAME upper
 *              case, '-' as '_'), which shipway reads for that environment alone
 * credentials  id of a username/password credential for the registry; null for none
 * prometheusCredentials  id of a username/password credential for Prometheus and the
 *              Pushgateway (deploy.analysis, deploy markers); null for none
 * prometheusToken  id of a secret text credential holding their bearer token instead
 * expectRecord promote: the record file (a deploy's or promote's --json output) of what this
 *              build put into --from: promote refuses when --from runs anything else by now
 * json         true: add --json, write the output to `output` and return it parsed (readJSON)
 * output       file for the JSON output (default shipway-<stage>.json)
 * args         further arguments, a list of strings, passed as they are
 * pauseTimeout deploy, promote, continue: when shipway exits 3 (deploy.analysis was
 *              inconclusive and paused the update, on_inconclusive: pause), an input asks
 *              "continue the rollout or roll back?" for this many minutes (default 60: the
 *              analysis' pause_timeout); who answers is SHIPWAY_APPROVED_BY for `shipway
 *              continue` (recorded on the release); no answer, or the question aborted,
 *              rolls back and fails the build
 */
def call(Map config = [:]) {
    String stageName = config.stage
    String service = config.service
    if (!stageName || !STAGES.contains(stageName)) {
        error("shipwayStage: stage must be one of ${STAGES.join(', ')} (got ${stageName})")
    }
    if (!service) {
        error('shipwayStage: service is required')
    }
    List<String> environment = ["SHIPWAY_STEP_STAGE=${stageName}".toString(),
                                "SHIPWAY_STEP_SERVICE=${service}".toString()]
    String command = 'shipway "$SHIPWAY_STEP_STAGE" --service "$SHIPWAY_STEP_SERVICE"'
    if (config.catalog) {
        environment << "SHIPWAY_STEP_CATALOG=${config.catalog}".toString()
        command += ' --catalog "$SHIPWAY_STEP_CATALOG"'
    }
    if (config.environment) {
        environment << "SHIPWAY_STEP_ENVIRONMENT=${config.environment}".toString()
        command += ' --environment "$SHIPWAY_STEP_ENVIRONMENT"'
    }
    List extra = config.args ?: []
    for (int i = 0; i < extra.size(); i++) {
        environment << "SHIPWAY_STEP_ARG_${i}=${extra[i]}".toString()
        command += " \"\$SHIPWAY_STEP_ARG_${i}\""
    }
    if (config.expectRecord) {
        environment << "SHIPWAY_STEP_EXPECT_RECORD=${config.expectRecord}".toString()
        command += ' --expect-record "$SHIPWAY_STEP_EXPECT_RECORD"'
    }
    String output = config.output ?: "shipway-${stageName}.json".toString()
    if (config.json) {
        environment << "SHIPWAY_STEP_OUTPUT=${output}".toString()
        command += ' --json > "$SHIPWAY_STEP_OUTPUT"'
    }
    if (config.prometheusCredentials && config.prometheusToken) {
        error('shipwayStage: give prometheusCredentials or prometheusToken, not both')
    }
    // Each secret reaches shipway as a variable credentials binding sets (and masks in the
    // log), never in the script or on a command line.
    List bindings = []
    if (config.credentials) {
        bindings << usernamePassword(credentialsId: config.credentials,
                                     usernameVariable: 'SHIPWAY_REGISTRY_USER',
                                     passwordVariable: 'SHIPWAY_REGISTRY_PASSWORD')
    }
    if (config.prometheusCredentials) {
        bindings << usernamePassword(credentialsId: config.prometheusCredentials,
                                     usernameVariable: 'SHIPWAY_PROMETHEUS_USER',
                                     passwordVariable: 'SHIPWAY_PROMETHEUS_PASSWORD')
    }
    if (config.prometheusToken) {
        bindings << string(credentialsId: config.prometheusToken, variable: 'SHIPWAY_PROMETHEUS_TOKEN')
    }
    List targets = config.environments ?: []
    for (int i = 0; i < targets.size(); i++) {
        String suffix = '_' + targets[i].name.toString().toUpperCase().replace('-', '_')
        if (targets[i].credentials) {
            bindings << dockerCert(credentialsId: targets[i].credentials, variable: 'DOCKER_CERT_PATH' + suffix)
            // With only a certificate path the engine's own certificate goes unchecked.
            environment << "DOCKER_TLS_VERIFY${suffix}=1".toString()
        }
        if (targets[i].registryCredentials) {
            bindings << usernamePassword(credentialsId: targets[i].registryCredentials,
                                         usernameVariable: 'SHIPWAY_REGISTRY_USER' + suffix,
                                         passwordVariable: 'SHIPWAY_REGISTRY_PASSWORD' + suffix)
        }
    }
    int code = 0
    withEnv(environment) {
        if (bindings) {
            withCredentials(bindings) {
                code = sh(script: command, returnStatus: true)
            }
        } else {
            code = sh(script: command, returnStatus: true)
        }
    }
    if (code == 3 && PAUSING.contains(stageName)) {
        return answerPause(config, service)
    }
    if (code != 0) {
        error("script returned exit code ${code}")
    }
    return config.json ? readJSON(file: output) : null
}

/**
 * A deploy, promote or continue that deploy.analysis paused (exit 3): ask whether to
 * continue the rollout or roll back, within config.pauseTimeout minutes; then `shipway
 * continue` (its record where the paused call's went; it may pause again) as who answered,
 * or `shipway rollback`, which fails the build.
 */
def answerPause(Map config, String service) {
    List extra = config.args ?: []
    int to = extra.indexOf('--to')
    String where = to >= 0 ? extra[to + 1] : config.environment
    String action = 'roll back'
    String by = ''
    try {
        timeout(time: config.pauseTimeout ?: 60, unit: 'MINUTES') {
            def answer = input(message: "${service}${where ? ' in ' + where : ''}: the analysis of the new release was inconclusive and the update is paused. Continue the rollout or roll back?".toString(),
                               ok: 'Answer', submitterParameter: 'SHIPWAY_APPROVED_BY',
                               parameters: [choice(name: 'ACTION', choices: ['continue the rollout', 'roll back'])])
            action = answer.ACTION
            by = answer.SHIPWAY_APPROVED_BY ?: ''
        }
    } catch (err) {
        echo 'No answer within the pause timeout, or the question was aborted: rolling back'
    }
    Map next = config + [environment: where, args: [], expectRecord: null]
    boolean continued = action == 'continue the rollout'
    def record = null
    withEnv(["SHIPWAY_APPROVED_BY=${by}".toString()]) {
        if (continued) {
            record = shipwayStage(next + [stage: 'continue'])
        } else {
            String suffix = where ? "-${where}" : ''
            shipwayStage(next + [stage: 'rollback', output: "shipway-rollback${suffix}.json".toString()])
        }
    }
    if (!continued) {
        error(by ? "rolled back: ${by} answered roll back".toString() : 'rolled back: no answer within the pause timeout, or the question was aborted')
    }
    return record
}

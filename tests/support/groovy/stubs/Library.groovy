// Stand-in for org.jenkinsci.plugins.workflow.libs.Library (which Jenkins imports for every
// Jenkinsfile), so `@Library('shipway') _` compiles with plain groovyc.
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
